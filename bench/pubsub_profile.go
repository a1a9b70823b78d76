package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sustain runs one sustained-throughput run of p: workers publishers as
// fast as their publish calls return for dur, then up to drain for the
// deliveries; the rate is the deliveries over the time until the last.
func sustain(ctx context.Context, p *pubsubPath, run int64, workers int, dur, drain time.Duration) (pubsubRun, int64) {
	p.col.reset(run)
	began := time.Now()
	var seq, failed atomic.Int64
	var wg sync.WaitGroup
	end := began.Add(dur)
	n := int64(max(1, p.batch))
	for range workers {
		wg.Go(func() {
			for time.Now().Before(end) {
				if p.send(ctx, run, seq.Add(n)-n+1, n) != nil {
					failed.Add(n)
				}
			}
		})
	}
	wg.Wait()
	published := seq.Load() - failed.Load()
	p.col.waitFor(published, drain)
	return summarize(p.col, published, began), failed.Load()
}

// pubsubProfile is where the CPU of the services' way of publishing goes:
// one more sustained run of that path (counted in no figure), with every
// process's CPU per delivered message and CPU profiles of both sidecars.
type pubsubProfile struct {
	label    string
	run      pubsubRun
	cpu      []procCPU
	profiles []profileTop
	dir      string
	err      error
	// direct is the same measure of the direct client's path.
	direct    []procCPU
	directRun pubsubRun
}

// servicesPath is the path that publishes as the services do.
const servicesPath = "dapr-grpc"

func profilePubSub(ctx context.Context, cfg config, paths []*pubsubPath, run int64, workers int, drain time.Duration,
	pids map[string]int, targets []profileTarget, log func(string, ...any)) *pubsubProfile {
	var p, direct *pubsubPath
	for _, x := range paths {
		switch x.key {
		case servicesPath:
			p = x
		case "direct":
			direct = x
		}
	}
	out := &pubsubProfile{label: p.label, dir: filepath.Join(cfg.root, ".data", "bench", "profiles", "pubsub")}
	if out.err = os.RemoveAll(out.dir); out.err == nil {
		out.err = os.MkdirAll(out.dir, 0o755)
	}
	if out.err != nil {
		return out
	}
	log("part 3: one more sustained run of %q with CPU profiles of both sidecars (into %s)", p.label, out.dir)
	before := sampleCPU(pids)
	done := make(chan struct{})
	go func() {
		defer close(done)
		out.profiles = captureProfiles(ctx, targets, cfg.benchtime, out.dir)
	}()
	out.run, _ = sustain(ctx, p, run, workers, cfg.benchtime, drain)
	<-done
	out.cpu = perSaga(before, sampleCPU(pids), int(out.run.delivered))
	// The direct client's CPU per message, measured the same way (its
	// processes are the broker and the benchmark's own).
	before = sampleCPU(pids)
	out.directRun, _ = sustain(ctx, direct, run+1, workers, cfg.benchtime, drain)
	out.direct = perSaga(before, sampleCPU(pids), int(out.directRun.delivered))
	if rel, err := filepath.Rel(cfg.root, out.dir); err == nil {
		out.dir = rel // as the report names it: from the repository's root
	}
	return out
}

func (pp *pubsubProfile) markdown() string {
	if pp == nil {
		return ""
	}
	if pp.err != nil {
		return fmt.Sprintf("No CPU profiles of the sidecars: %s.\n\n", oneLine(pp.err))
	}
	var b strings.Builder
	var all time.Duration
	for _, c := range pp.cpu {
		all += c.perSaga
	}
	fmt.Fprintf(&b, "**Where the CPU goes, %s.** One more sustained run of that path (%.0f msg/s, %d delivered; counted in no figure above), with each process's CPU time (`/proc/<pid>/stat`) per delivered message, "+
		"and CPU profiles of both sidecars over it in `%s` (`go tool pprof -http=: <file>`):\n\n| process | CPU per message |\n|---|---:|\n", pp.label, pp.run.rate, pp.run.delivered, pp.dir)
	for _, c := range pp.cpu {
		fmt.Fprintf(&b, "| %s | %.1f µs |\n", c.name, float64(c.perSaga)/1e3)
	}
	fmt.Fprintf(&b, "| **all** | **%.1f µs** |\n| 2 s / all | %.0f msg/s |\n\n", float64(all)/1e3, 2e9/float64(max(all, 1)))
	var direct time.Duration
	var parts []string
	for _, c := range pp.direct {
		if c.perSaga > 0 {
			direct += c.perSaga
			parts = append(parts, fmt.Sprintf("%s %.1f µs", c.name, float64(c.perSaga)/1e3))
		}
	}
	fmt.Fprintf(&b, "The direct client, measured the same way right after (%.0f msg/s): **%.1f µs** per message in all (%s), so the path through the sidecars costs **%.1f ×** its CPU per message; "+
		"were both paths bound by the CPU of two cores alone, the sidecars' rate would be about %.2f × the direct client's.\n\n",
		pp.directRun.rate, float64(direct)/1e3, strings.Join(parts, ", "), float64(all)/float64(max(direct, 1)), float64(direct)/float64(max(all, 1)))
	writeProfiles(&b, pp.profiles)
	return b.String()
}
