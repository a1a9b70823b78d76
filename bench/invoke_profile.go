package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// invokeProfile is where the CPU of a call through the two sidecars goes:
// one more closed-loop run of each hop through sidecars or proxies (counted
// in no figure), with every process's CPU per request, and CPU profiles of
// the sidecars over their hop's run: the evidence for which cost
// dominates.
type invokeProfile struct {
	runs     []profiledHop
	profiles []profileTop
	dir      string
	err      error
}

type profiledHop struct {
	key string
	rps float64
	cpu []procCPU
}

// profileInvoke runs each of hops once more, closed loop, measuring the
// CPU of every process in pids (the handler, the hops, the load
// generator); targets[i] are profiled over hops[i]'s run.
func profileInvoke(ctx context.Context, cfg config, hops []*hopResult, pids map[string]int, targets [][]profileTarget,
	log func(string, ...any)) *invokeProfile {
	out := &invokeProfile{dir: filepath.Join(cfg.root, ".data", "bench", "profiles", "invoke")}
	if out.err = os.RemoveAll(out.dir); out.err == nil {
		out.err = os.MkdirAll(out.dir, 0o755)
	}
	if out.err != nil {
		return out
	}
	for i, h := range hops {
		log("part 1: one more closed-loop run of %q, with CPU profiles of its sidecars (into %s)", h.label, out.dir)
		var done chan struct{}
		if len(targets[i]) > 0 {
			done = make(chan struct{})
			go func() {
				defer close(done)
				ps := captureProfiles(ctx, targets[i], cfg.benchtime, out.dir)
				out.profiles = append(out.profiles, ps...)
			}()
		}
		before := sampleCPU(pids)
		m := attack(h.target, vegeta.Rate{}, uint64(cfg.workers), cfg.benchtime)
		run := profiledHop{key: h.key, rps: m.Throughput, cpu: perSaga(before, sampleCPU(pids), int(m.Success*float64(m.Requests)))}
		// Processes idle in this run (the other hops) are left out.
		run.cpu = slices.DeleteFunc(run.cpu, func(p procCPU) bool { return p.perSaga < time.Microsecond })
		out.runs = append(out.runs, run)
		if done != nil {
			<-done
		}
	}
	if rel, err := filepath.Rel(cfg.root, out.dir); err == nil {
		out.dir = rel // as the report names it: from the repository's root
	}
	return out
}

func (ip *invokeProfile) markdown() string {
	if ip == nil {
		return ""
	}
	if ip.err != nil {
		return fmt.Sprintf("No CPU profiles of the sidecars: %s.\n\n", oneLine(ip.err))
	}
	var b strings.Builder
	var keys, rates []string
	for _, r := range ip.runs {
		keys = append(keys, "("+r.key+")")
		rates = append(rates, fmt.Sprintf("(%s) %.0f req/s", r.key, r.rps))
	}
	fmt.Fprintf(&b, "**Where the CPU goes.** One more closed-loop run of %s (%s), counted in no figure above, with each process's CPU time (`/proc/<pid>/stat`) per request, "+
		"and CPU profiles of the sidecars over their hop's run in `%s` (`go tool pprof -http=: <file>`):\n\n", strings.Join(keys, ", "), strings.Join(rates, ", "), ip.dir)
	b.WriteString("|")
	for _, k := range keys {
		fmt.Fprintf(&b, " %s process | CPU per request |", k)
	}
	b.WriteString("\n|" + strings.Repeat("---|---:|", len(keys)) + "\n")
	rows := 0
	for _, r := range ip.runs {
		rows = max(rows, len(r.cpu))
	}
	for i := range rows {
		b.WriteString("|")
		for _, r := range ip.runs {
			if i < len(r.cpu) {
				fmt.Fprintf(&b, " %s | %.1f µs |", r.cpu[i].name, float64(r.cpu[i].perSaga)/1e3)
			} else {
				b.WriteString(" | |")
			}
		}
		b.WriteString("\n")
	}
	sums := make([]time.Duration, len(ip.runs))
	b.WriteString("|")
	for i, r := range ip.runs {
		for _, p := range r.cpu {
			sums[i] += p.perSaga
		}
		fmt.Fprintf(&b, " **all** | **%.1f µs** |", float64(sums[i])/1e3)
	}
	b.WriteString("\n|")
	for _, s := range sums {
		fmt.Fprintf(&b, " 2 s / all | %.0f req/s |", 2e9/float64(max(s, 1)))
	}
	b.WriteString("\n\n")
	last := len(sums) - 1 // the proxies come last
	var bound []string
	for i := range last {
		bound = append(bound, fmt.Sprintf("%s would reach %.2f ×", keys[i], float64(sums[last])/float64(max(sums[i], 1))))
	}
	fmt.Fprintf(&b, "All processes share two cores, so the closed loop is bound by the CPU per request of the whole path: by it alone %s %s.\n\n", strings.Join(bound, ", "), keys[last])
	writeProfiles(&b, ip.profiles)
	return b.String()
}
