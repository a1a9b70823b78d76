package tests

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The fault scenarios (chaos_*_test.go, security_test.go) each add one row
// to a summary: what was injected, how much work ran through it, and what
// the invariant checker found. The suite prints the table at its end;
// `make chaos` runs the scenarios at full counts and writes it to
// docs/chaos.md (CHAOS_REPORT names the file).

// chaosFull reports whether the scenarios run at full counts (CHAOS=full,
// `make chaos`) rather than the fast version `make test` runs.
func chaosFull() bool { return os.Getenv("CHAOS") == "full" }

// chaosCount is fast in `make test` and full in `make chaos`.
func chaosCount(fast, full int) int {
	if chaosFull() {
		return full
	}
	return fast
}

// chaosRow is one scenario's line of the summary.
type chaosRow struct {
	Scenario   string
	Iterations int
	// Faults is how many faults were injected (kills, restarts, SIGTERMs,
	// hostile requests).
	Faults int
	// Work is what ran through the faults, with its unit: "120 sagas",
	// "10000 events", "96 attempts".
	Work string
	// Violations are broken invariants: an order that never ended, units
	// or money not conserved, an event lost, a hostile request answered
	// other than documented or changing something.
	Violations int
	// Duplicates are duplicate executions (an activity or delivery run
	// again: the barrier or the inbox turned it into a no-op); DupEffects
	// are duplicate effects (a charge, a unit, a notification applied
	// twice), which must be zero.
	Duplicates int
	DupEffects int
	// Settle is the longest time from a fault's end (the process back and
	// ready) until every saga or event of its iteration had settled.
	Settle time.Duration
}

var chaosRows struct {
	sync.Mutex
	rows []chaosRow
}

// recordChaos adds a scenario's row to the summary.
func recordChaos(r chaosRow) {
	chaosRows.Lock()
	defer chaosRows.Unlock()
	chaosRows.rows = append(chaosRows.rows, r)
}

// writeChaosTable writes the summary as a Markdown table; it writes
// nothing when no scenario ran.
func writeChaosTable(w io.Writer) error {
	chaosRows.Lock()
	defer chaosRows.Unlock()
	if len(chaosRows.rows) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("| scenario | iterations | faults injected | sagas / events | violations | duplicate executions | duplicate effects | max time to settle |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range chaosRows.rows {
		settle := "n/a"
		if r.Settle > 0 {
			settle = r.Settle.Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %d | %d | %d | %s |\n",
			r.Scenario, r.Iterations, r.Faults, r.Work, r.Violations, r.Duplicates, r.DupEffects, settle)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeChaosReport writes docs/chaos.md's generated part: the environment
// and the table, between the markers of the file at path, keeping the
// hand-written text around them.
func writeChaosReport(path string) error {
	var table strings.Builder
	fmt.Fprintf(&table, "Run of %s on profile %s, name resolution %s, %s counts (CHAOS=%s).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), profileName(), nameResolution(), chaosScaleName(), strconv.Quote(os.Getenv("CHAOS")))
	if err := writeChaosTable(&table); err != nil {
		return err
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	const begin, end = "<!-- chaos:begin -->\n", "<!-- chaos:end -->"
	i, j := strings.Index(string(old), begin), strings.Index(string(old), end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q … %q markers", path, strings.TrimSpace(begin), end)
	}
	out := string(old[:i+len(begin)]) + table.String() + string(old[j:])
	return os.WriteFile(path, []byte(out), 0o644)
}

func chaosScaleName() string {
	if chaosFull() {
		return "full"
	}
	return "fast"
}

func nameResolution() string {
	if n := os.Getenv("NAMERESOLUTION"); n != "" {
		return n
	}
	return "sqlite"
}
