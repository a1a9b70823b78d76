package proc

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Lines writes each process's lines with its name in front, padded to the
// longest name it was told of, and its own lines under the name self.
type Lines struct {
	mu    sync.Mutex
	w     io.Writer
	self  string
	width int
}

// NewLines writes to w; self names the lines of whoever runs the processes
// (the launcher, a test harness); names are those of its processes.
func NewLines(w io.Writer, self string, names ...string) *Lines {
	width := len(self)
	for _, n := range names {
		width = max(width, len(n))
	}
	return &Lines{w: w, self: self, width: width}
}

// Line writes one line of the named process.
func (l *Lines) Line(name, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%-*s | %s\n", l.width, name, text)
}

// System writes one line of its own.
func (l *Lines) System(format string, args ...any) {
	l.Line(l.self, fmt.Sprintf(format, args...))
}

// Buffer keeps the last mebibyte of what processes wrote, for a test or a
// benchmark to show when one fails. Its two pipes and a reader may use it
// at once.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		keep := b.buf.Bytes()[b.buf.Len()-1<<19:]
		b.buf = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	return b.buf.Write(p)
}

// String is everything kept.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail is the last n lines kept.
func (b *Buffer) Tail(n int) string {
	l := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
