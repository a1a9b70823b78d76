package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/daprshop/daprshop/internal/shopclient"
)

// Part 2: the checkout saga (services/orders, Dapr Workflow) at rising
// arrival rates, through the gateway of the whole local system started by
// the launcher, next to the same workflow with no-op activities on a
// sidecar of its own joined to that system (the engine's ceiling in it),
// and the same participant calls run by Dapr Workflow and by DTM. By role: the series
// and the rising rates here; the systems they run on, driven and audited
// through the shop's client, shop.go; the checkout series checkout.go,
// the ceiling noop.go (its engine wfhost.go), the participant calls
// daprcalls.go and dtm.go; the redis series' server saga_redis.go; the
// state operations per saga stateops.go; CPU and profiles cpu.go; the
// report's section saga_report.go.

// sagaStep is one arrival rate of a series.
type sagaStep struct {
	rate                         int
	offered, accepted            int
	completed, cancelled, failed int // failed: not final within the drain time
	tput                         float64
	p50, p90, p99                time.Duration
	note                         string // how the step differed (a fresh system, shortened)
	stop                         string // why the series stopped here
	// cpu is each process's CPU time per saga that ended in the step,
	// from its first arrival to its last end (cpu.go).
	cpu []procCPU
}

type sagaSeries struct {
	name, label string
	steps       []sagaStep
	err         error
	note        string
	skipped     string // why the series was not run
	// invariant is the stock and money check of the systems the series
	// ran on, after its sagas ended (nil: not checked).
	invariant *shopclient.Verdict
	source    string // where the series' servers came from, for the report
	// procs, when set, names the processes whose CPU each step measures
	// (their pids now: a fresh system between steps has others).
	procs func() map[string]int
	// profiled is the step run again at the best rate while profiles
	// of the apps and sidecars were taken, kept in profileDir;
	// profileNote says why there are none.
	profiled    *sagaStep
	profiles    []profileTop
	profileDir  string
	profileNote string
}

type sagaResults struct {
	series   []*sagaSeries
	stepDur  time.Duration
	stateOps []stateOp // per completed saga, real saga only
	sagas    int       // completed sagas the counts are divided by
	// orderReads is the benchmark's reads of an order per saga (its
	// latency polling), each one get of orders' store in stateOps.
	orderReads float64
	// dtmVersion is the DTM release tools/dtm pins.
	dtmVersion string
}

type stateOp struct {
	app, component, operation string
	perSaga                   float64
}

// maxSagaP99 ends a series: past it the rate is not sustainable.
const maxSagaP99 = 2 * time.Second

// ended is one saga's outcome.
type ended struct {
	status  string
	latency time.Duration
	at      time.Time
}

// rising runs arrivals at 2, 4, 8, ... per second for stepDur each, until
// p99 passes maxSagaP99, throughput falls below 80% of the arrival rate
// (the backlog grows), sagas do not end, or capacity (how many sagas may
// still be started) runs out. start starts one saga and returns a function
// that waits for its end. refill, when not nil, replaces the system by a
// fresh one (its seeded stock) when capacity is short of the next step; a
// step that even a fresh system's stock cannot hold whole, but half of it,
// is shortened to the stock.
func rising(ctx context.Context, s *sagaSeries, stepDur time.Duration, maxRate int, capacity func() int, refill func() error,
	start func(ctx context.Context) (wait func(context.Context) (ended, error), err error), log func(string, ...any)) {
	rates := []int{}
	refined := false
	for rate := 2; rate <= maxRate; rate *= 2 {
		rates = append(rates, rate)
	}
	for i := 0; i < len(rates); i++ {
		rate := rates[i]
		offered := int(float64(rate) * stepDur.Seconds())
		note := ""
		if capacity != nil && capacity() < offered && refill != nil {
			if err := refill(); err != nil {
				if len(s.steps) > 0 {
					s.steps[len(s.steps)-1].stop = "a fresh system for the next step did not start: " + strings.ReplaceAll(oneLine(err), "|", "/")
				}
				return
			}
			note = "on a fresh system (the last one's stock ran short)"
		}
		if capacity != nil && capacity() < offered {
			left := capacity()
			if refill == nil || left < offered/2 {
				if len(s.steps) > 0 {
					why := fmt.Sprintf("stock or money left for fewer than %d more orders", offered)
					if refill != nil {
						why = fmt.Sprintf("even a fresh system's stock holds fewer than half of the next step's %d orders", offered)
					}
					s.steps[len(s.steps)-1].stop = why
				}
				return
			}
			note += fmt.Sprintf("; shortened to %.2f s (%d orders: the whole stock)", float64(left)/float64(rate), left)
			offered = left
		}
		var before cpuSample
		if s.procs != nil {
			before = sampleCPU(s.procs())
		}
		st := runStep(ctx, s.label, rate, offered, stepDur, start, log)
		if s.procs != nil {
			st.cpu = perSaga(before, sampleCPU(s.procs()), st.completed+st.cancelled)
		}
		st.note = strings.TrimPrefix(note, "; ")
		if st.stop == "" && i == len(rates)-1 && !refined {
			st.stop = "the highest rate of the run"
		}
		s.steps = append(s.steps, st)
		if st.stop != "" {
			// One more step between the last good rate and this one, so
			// that the best figure is not only a power of two.
			if rate >= 8 && !refined {
				refined = true
				rates = append(rates[:i+1], rate*3/4)
				continue
			}
			return
		}
	}
}

// runStep offers offered sagas at rate per second (open loop), waits for
// them to end (the drain time: a minute and a step), and judges the step:
// its stop says why the series cannot go faster (empty: it kept up).
func runStep(ctx context.Context, label string, rate, offered int, stepDur time.Duration,
	start func(ctx context.Context) (wait func(context.Context) (ended, error), err error), log func(string, ...any)) sagaStep {
	st := sagaStep{rate: rate}
	var mu sync.Mutex
	var firstErr error
	var waits []func(context.Context) (ended, error)
	var wg sync.WaitGroup
	began := time.Now()
	pacer := vegeta.ConstantPacer{Freq: rate, Per: time.Second}
	for hits := uint64(0); ; hits++ {
		wait, stop := pacer.Pace(time.Since(began), hits)
		if stop || int(hits) >= offered {
			break
		}
		if wait > 0 {
			<-time.After(wait) // pacing the open loop
		}
		st.offered++
		wg.Go(func() {
			w, err := start(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				st.failed++
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			st.accepted++
			waits = append(waits, w)
		})
	}
	wg.Wait()
	drainCtx, cancel := context.WithTimeout(ctx, 60*time.Second+stepDur)
	var lat []time.Duration
	var last time.Time
	for _, w := range waits {
		e, err := w(drainCtx)
		switch {
		case err != nil:
			st.failed++
			if firstErr == nil {
				firstErr = err
			}
			continue
		case e.status == "completed":
			st.completed++
		default:
			st.cancelled++
		}
		lat = append(lat, e.latency)
		if e.at.After(last) {
			last = e.at
		}
	}
	cancel()
	if !last.IsZero() {
		st.tput = float64(st.completed) / last.Sub(began).Seconds()
	}
	st.p50, st.p90, st.p99 = percentile(lat, 0.5), percentile(lat, 0.9), percentile(lat, 0.99)
	log("part 2: %-28s %3d/s offered %d accepted %d completed %d cancelled %d unfinished/failed %d: %.1f sagas/s p50 %s p99 %s",
		label, rate, st.offered, st.accepted, st.completed, st.cancelled, st.failed, st.tput, st.p50, st.p99)
	switch {
	case st.failed > 0:
		st.stop = fmt.Sprintf("%d sagas failed to start or did not end within %s; the first: %s", st.failed, 60*time.Second+stepDur,
			strings.ReplaceAll(oneLine(firstErr), "|", "/"))
	case st.p99 > maxSagaP99:
		st.stop = "p99 passed 2 s"
	case st.tput < 0.8*float64(rate):
		st.stop = "throughput below 80% of the arrival rate: the backlog grows"
	}
	return st
}

func runSaga(ctx context.Context, cfg config, log func(string, ...any)) (*sagaResults, error) {
	r := &sagaResults{stepDur: cfg.benchtime, dtmVersion: "(version unknown)"}
	if b, err := os.ReadFile(filepath.Join(cfg.root, "tools", "dtm", "go.mod")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(l), "require "))
			if len(f) >= 2 && f[0] == "github.com/dtm-labs/dtm" {
				r.dtmVersion = f[1]
			}
		}
	}
	noop := &sagaSeries{name: "noop", label: "no-op workflow (ceiling)"}
	r.series = append(r.series, noop)
	noop.err = runNoopSeries(ctx, cfg, noop, log)

	local := &sagaSeries{name: "local", label: "checkout saga, local profile"}
	r.series = append(r.series, local)
	local.err = runCheckoutSeries(ctx, cfg, r, local, "local", log)

	redis := &sagaSeries{name: "redis", label: "checkout saga, redis profile"}
	r.series = append(r.series, redis)
	if stop, source, why := ensureRedis(cfg, log); why != "" {
		redis.skipped = why
		log("part 2: the redis series is skipped: %s", why)
	} else {
		redis.source = source
		redis.err = runCheckoutSeries(ctx, cfg, r, redis, "redis", log)
		stop()
	}

	calls := &sagaSeries{name: "daprcalls", label: "participant calls by Dapr Workflow"}
	r.series = append(r.series, calls)
	calls.err = runDaprCallsSeries(ctx, cfg, calls, log)

	dtm := &sagaSeries{name: "dtm", label: "same participant calls by DTM"}
	r.series = append(r.series, dtm)
	switch {
	case !fileExists(filepath.Join(cfg.bin, "dtm")):
		dtm.err = fmt.Errorf("%s missing: `make tools-bench` builds it", filepath.Join(cfg.bin, "dtm"))
	case !onlyLoopback():
		dtm.err = fmt.Errorf("DTM's server listens on every interface, and this run is not in a private network namespace (make bench runs it in one with unshare; BENCH_NETNS=0 leaves DTM out)")
	default:
		// DTM gets systems of its own, afresh: the same stock to sell.
		dtm.err = runDTMSeries(ctx, cfg, dtm, log)
	}
	return r, nil
}
