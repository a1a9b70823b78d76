package tests

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"strings"

	"github.com/stretchr/testify/require"
)

// The fault scenarios count what the apps logged (a replayed barrier op, a
// redelivered event, a dead letter) from the system log, which outlives
// the processes they kill: an app's own counters start again at zero.

// logMark is an offset in the system log.
type logMark int64

// markLog returns the system log's end: what is written after it belongs
// to the scenario that took the mark.
func markLog(t require.TestingT) logMark {
	fi, err := os.Stat(systemLog)
	require.NoError(t, err)
	return logMark(fi.Size())
}

// logEntry is one JSON line an app wrote: its process name and fields.
type logEntry struct {
	Proc   string
	Fields map[string]any
}

func (e logEntry) str(key string) string {
	s, _ := e.Fields[key].(string)
	return s
}

func (e logEntry) flag(key string) bool {
	b, _ := e.Fields[key].(bool)
	return b
}

// eachLine calls f with every line written since mark, until f returns
// false.
func eachLine(t require.TestingT, since logMark, f func(line string) bool) {
	file, err := os.Open(systemLog)
	require.NoError(t, err)
	defer file.Close()
	_, err = file.Seek(int64(since), io.SeekStart)
	require.NoError(t, err)
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		if !f(sc.Text()) {
			break
		}
	}
	require.NoError(t, sc.Err())
}

// logEntries returns the JSON lines written since mark with the message
// msg, from every process.
func logEntries(t require.TestingT, since logMark, msg string) []logEntry {
	needle := `"msg":"` + msg + `"`
	var out []logEntry
	eachLine(t, since, func(line string) bool {
		if !strings.Contains(line, needle) {
			return true
		}
		// "<process> | <json>", the process name padded (launcher's lineWriter).
		proc, text, ok := strings.Cut(line, " | ")
		if !ok {
			return true
		}
		var fields map[string]any
		if json.Unmarshal([]byte(text), &fields) != nil || fields["msg"] != msg {
			return true
		}
		out = append(out, logEntry{Proc: strings.TrimSpace(proc), Fields: fields})
		return true
	})
	return out
}

// linesMentioning returns at most max lines written since mark that
// contain needle: what the processes said about one event, for a failure
// report.
func linesMentioning(t require.TestingT, since logMark, needle string, max int) []string {
	var out []string
	eachLine(t, since, func(line string) bool {
		if strings.Contains(line, needle) {
			out = append(out, line)
		}
		return len(out) < max
	})
	return out
}
