package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/daprshop/daprshop/internal/proc"
)

// Part 1: the same small handler called directly, through two plain Go
// reverse proxies, and through two Dapr sidecars.

// hop is one way to reach the handler.
type hop struct {
	key, label string
	target     vegeta.Target
	// procs are the processes in the path between the load generator and
	// the handler (the proxies or the sidecars), measured for CPU and RSS.
	procs []*child
}

// hopResult is what was measured of one hop, one entry per repetition.
type hopResult struct {
	hop
	maxRPS     []float64       // closed-loop throughput of successful requests
	maxSuccess []float64       // their success ratio
	cpuPerReq  []time.Duration // CPU of procs per request, summed over procs
	p50        []time.Duration // at the fixed rate
	p90        []time.Duration
	p99        []time.Duration
	fixedOK    []float64
	rss, hwm   int64 // summed over procs, after the runs
}

type invokeResults struct {
	hops      []*hopResult
	profile   *invokeProfile
	mdnsErr   error // why hop (d) was not measured
	fixedRate int
	workers   int
	dur       time.Duration
}

// serveHandler is the handler process: GET /ping answers a small JSON body.
func serveHandler(addr string) error {
	body := []byte(`{"ok":true,"service":"callee"}`)
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.ListenAndServe()
}

// serveProxy is a plain reverse proxy process in front of to: the standard
// library's httputil.ReverseProxy with a shared, keep-alive transport.
func serveProxy(addr, to string) error {
	target, err := url.Parse(to)
	if err != nil {
		return err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 1024
	proxy := &httputil.ReverseProxy{
		Transport: t,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
	}
	srv := &http.Server{Addr: addr, Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	return srv.ListenAndServe()
}

// startSelf runs this program again in one of its serve modes.
// It is ready once health answers 204.
func startSelf(name, health string, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return startChild(proc.Spec{Name: name, Path: exe, Args: append([]string{"serve"}, args...), Ready: proc.HTTP(health, http.StatusNoContent)}, 30*time.Second)
}

func runInvoke(cfg config, log func(string, ...any)) (_ *invokeResults, err error) {
	var procs []*child
	defer func() {
		for _, p := range slices.Backward(procs) {
			p.stop()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	hp, p2, p1 := ports[0], ports[1], ports[2]
	loop := func(p int) string { return "http://127.0.0.1:" + strconv.Itoa(p) }

	handler, err := startSelf("handler", loop(hp)+"/healthz", "handler", "127.0.0.1:"+strconv.Itoa(hp))
	if err != nil {
		return nil, err
	}
	procs = append(procs, handler)
	proxy2, err := startSelf("proxy2", loop(p2)+"/healthz", "proxy", "127.0.0.1:"+strconv.Itoa(p2), loop(hp))
	if err != nil {
		return nil, err
	}
	procs = append(procs, proxy2)
	proxy1, err := startSelf("proxy1", loop(p1)+"/healthz", "proxy", "127.0.0.1:"+strconv.Itoa(p1), loop(p2))
	if err != nil {
		return nil, err
	}
	procs = append(procs, proxy1)

	dir, err := os.MkdirTemp("", "bench-invoke-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	mdnsConfig := strings.Replace(benchConfig, benchNameResolution, "  nameResolution:\n    component: mdns\n    version: v1\n", 1)
	if err := writeFiles(dir, map[string]string{"config.yaml": benchConfig, "config-mdns.yaml": mdnsConfig}); err != nil {
		return nil, err
	}
	res := filepath.Join(dir, "resources")
	if err := os.MkdirAll(res, 0o755); err != nil {
		return nil, err
	}
	callee, err := startDaprd(cfg.daprd, daprdOptions{appID: "callee", appPort: hp, resources: res, config: filepath.Join(dir, "config.yaml"), profiling: true})
	if err != nil {
		return nil, err
	}
	procs = append(procs, callee.child)
	caller, err := startDaprd(cfg.daprd, daprdOptions{appID: "caller", resources: res, config: filepath.Join(dir, "config.yaml"), profiling: true})
	if err != nil {
		return nil, err
	}
	procs = append(procs, caller.child)
	sidecars := map[*child]*daprd{callee.child: callee, caller.child: caller}

	hops := []*hopResult{
		{hop: hop{key: "a", label: "direct", target: vegeta.Target{Method: "GET", URL: loop(hp) + "/ping"}}},
		{hop: hop{key: "b", label: "two Go reverse proxies", target: vegeta.Target{Method: "GET", URL: loop(p1) + "/ping"}, procs: []*child{proxy1, proxy2}}},
		{hop: hop{key: "c", label: "two Dapr sidecars", target: vegeta.Target{Method: "GET", URL: caller.base() + "/ping",
			Header: http.Header{"Dapr-App-Id": []string{"callee"}, "Dapr-Api-Token": []string{daprToken}}}, procs: []*child{caller.child, callee.child}}},
	}
	// The caller's sidecar finds the callee by name resolution: wait until
	// an invocation goes through.
	if err := waitTarget(hops[2].target, 60*time.Second); err != nil {
		return nil, fmt.Errorf("invoke through the sidecars: %w\n%s\n%s", err, caller.tail(20), callee.tail(20))
	}

	r := &invokeResults{workers: cfg.workers, dur: cfg.benchtime}
	// (d): the same two sidecars' hop with a name resolution that caches
	// resolved addresses (mDNS), as Kubernetes DNS and Consul with
	// useCache do, where SQLite's runs a query per call.
	mdnsCallee, err := startDaprd(cfg.daprd, daprdOptions{appID: "callee-mdns", appPort: hp, resources: res, config: filepath.Join(dir, "config-mdns.yaml"), profiling: true})
	if err == nil {
		procs = append(procs, mdnsCallee.child)
		var mdnsCaller *daprd
		if mdnsCaller, err = startDaprd(cfg.daprd, daprdOptions{appID: "caller-mdns", resources: res, config: filepath.Join(dir, "config-mdns.yaml"), profiling: true}); err == nil {
			procs = append(procs, mdnsCaller.child)
			sidecars[mdnsCallee.child], sidecars[mdnsCaller.child] = mdnsCallee, mdnsCaller
			d := &hopResult{hop: hop{key: "d", label: "two Dapr sidecars, mDNS", target: vegeta.Target{Method: "GET", URL: mdnsCaller.base() + "/ping",
				Header: http.Header{"Dapr-App-Id": []string{"callee-mdns"}, "Dapr-Api-Token": []string{daprToken}}}, procs: []*child{mdnsCaller.child, mdnsCallee.child}}}
			if err = waitTarget(d.target, 30*time.Second); err == nil {
				hops = append(hops, d)
			}
		}
	}
	if err != nil {
		r.mdnsErr = err // (d) needs multicast on an interface; the rest stands
		log("part 1: no mDNS hop: %v", err)
	}
	r.hops = hops
	for _, h := range hops {
		log("part 1: warm-up %s", h.label)
		attack(h.target, vegeta.Rate{}, uint64(cfg.workers), cfg.benchtime/5)
	}
	// Phase 1: closed loop, as fast as the hop goes.
	for rep := range cfg.reps {
		for _, h := range order(hops, rep) {
			before := cpuOf(h.procs)
			m := attack(h.target, vegeta.Rate{}, uint64(cfg.workers), cfg.benchtime)
			spent := cpuOf(h.procs) - before
			h.maxRPS = append(h.maxRPS, m.Throughput)
			h.maxSuccess = append(h.maxSuccess, m.Success)
			if n := m.Success * float64(m.Requests); n > 0 && len(h.procs) > 0 {
				h.cpuPerReq = append(h.cpuPerReq, time.Duration(float64(spent)/n))
			}
			log("part 1: rep %d %-24s max %.0f req/s (success %.4f, %s)", rep+1, h.label, m.Throughput, m.Success, errorsOf(m))
		}
	}
	// Phase 2: open loop at a fixed rate well under the slowest hop's
	// saturation (a quarter of its median throughput).
	slowest := median(hops[0].maxRPS)
	for _, h := range hops {
		slowest = min(slowest, median(h.maxRPS))
	}
	r.fixedRate = max(10, int(slowest/4)/10*10)
	for rep := range cfg.reps {
		for _, h := range order(hops, rep) {
			m := attack(h.target, vegeta.Rate{Freq: r.fixedRate, Per: time.Second}, 0, cfg.benchtime)
			h.p50 = append(h.p50, m.Latencies.P50)
			h.p90 = append(h.p90, m.Latencies.P90)
			h.p99 = append(h.p99, m.Latencies.P99)
			h.fixedOK = append(h.fixedOK, m.Success)
			log("part 1: rep %d %-24s at %d/s p50 %s p90 %s p99 %s (success %.4f)", rep+1, h.label, r.fixedRate,
				m.Latencies.P50, m.Latencies.P90, m.Latencies.P99, m.Success)
		}
	}
	pids := map[string]int{loadGenerator: os.Getpid(), "handler": handler.PID()}
	for _, h := range hops {
		for _, p := range h.procs {
			pids[p.Name()] = p.PID()
		}
	}
	// Each hop through sidecars, then the proxies; the sidecars profiled.
	profiled := append(slices.Clone(hops[2:]), hops[1])
	targets := make([][]profileTarget, len(profiled))
	for i, h := range profiled {
		for _, p := range h.procs {
			if d, ok := sidecars[p]; ok {
				targets[i] = append(targets[i], profileTarget{p.Name(), fmt.Sprintf("http://127.0.0.1:%d", d.ProfilePort)})
			}
		}
	}
	r.profile = profileInvoke(context.Background(), cfg, profiled, pids, targets, log)
	for _, h := range hops {
		for _, p := range h.procs {
			now, peak := p.rss()
			h.rss += now
			h.hwm += peak
		}
	}
	return r, nil
}

// order alternates the order of the hops from one repetition to the next,
// so that neither warms the machine for the other every time.
func order[T any](xs []T, rep int) []T {
	out := slices.Clone(xs)
	if rep%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

// attack runs the load generator against t: closed loop with workers
// (rate zero: each worker sends its next request when the last answered),
// or open loop at rate (workers zero: as many as the rate needs).
func attack(t vegeta.Target, rate vegeta.Rate, workers uint64, d time.Duration) *vegeta.Metrics {
	opts := []func(*vegeta.Attacker){vegeta.KeepAlive(true), vegeta.Timeout(10 * time.Second), vegeta.HTTP2(false)}
	if workers > 0 {
		opts = append(opts, vegeta.Workers(workers), vegeta.MaxWorkers(workers), vegeta.Connections(int(workers)))
	}
	a := vegeta.NewAttacker(opts...)
	var m vegeta.Metrics
	for res := range a.Attack(vegeta.NewStaticTargeter(t), rate, d, "bench") {
		m.Add(res)
	}
	m.Close()
	return &m
}

// waitTarget polls t until it answers 200.
func waitTarget(t vegeta.Target, within time.Duration) error {
	deadline := time.Now().Add(within)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := t.Request()
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return err
		}
		<-time.After(100 * time.Millisecond) // the poll interval
	}
}

func cpuOf(ps []*child) time.Duration {
	var sum time.Duration
	for _, p := range ps {
		t, err := p.cpuTime()
		if err == nil {
			sum += t
		}
	}
	return sum
}

func errorsOf(m *vegeta.Metrics) string {
	if len(m.Errors) == 0 {
		return "no errors"
	}
	errs := m.Errors
	if len(errs) > 3 {
		errs = errs[:3]
	}
	return "errors: " + strings.Join(errs, "; ")
}

func (r *invokeResults) markdown() string {
	var b strings.Builder
	a, px, dp := r.hops[0], r.hops[1], r.hops[2]
	fmt.Fprintf(&b, "## 1. Service invocation: sidecar cost\n\n")
	fmt.Fprintf(&b, "The same handler (`GET /ping`, a 30-byte JSON answer, its own process) called (a) directly, (b) through two plain Go reverse proxies "+
		"(`httputil.ReverseProxy`, one process each, keep-alive transport), (c) through two Dapr sidecars: caller → its daprd (HTTP, `dapr-app-id: callee`) → "+
		"the callee's daprd (gRPC between sidecars) → the handler. The sidecars run without mTLS, access control or tracing, with an API token (no sentry; SQLite name resolution; "+
		"metrics on, Dapr's default): the bare cost of the hop. The project's own Configurations add mTLS and tracing of every request. "+
		"(d) is (c) with mDNS name resolution, which keeps the addresses it resolved (as Kubernetes DNS and Consul with `useCache` do in the other profiles), where SQLite's, the local profile's, runs a SQL query per call.\n\n")
	fmt.Fprintf(&b, "Throughput: closed loop with %d workers (each sends its next request when the last answered) for %s; latency: open loop at %d req/s "+
		"(a quarter of the slowest path's median throughput) for %s. %d repetitions, the order of the paths reversed every other repetition; medians shown, every repetition in the table below.\n\n",
		r.workers, r.dur, r.fixedRate, r.dur, len(a.maxRPS))
	fmt.Fprintf(&b, "| path | max req/s | success | p50 | p90 | p99 at %d/s | CPU per request (the 2 hops) | RSS of the 2 hops (peak) |\n|---|---:|---:|---:|---:|---:|---:|---:|\n", r.fixedRate)
	for _, h := range r.hops {
		cpu, mem := "–", "–"
		if len(h.procs) > 0 {
			cpu = fmt.Sprintf("%.0f µs", float64(medianDur(h.cpuPerReq))/1e3)
			mem = fmt.Sprintf("%.1f MiB (%.1f MiB)", float64(h.rss)/(1<<20), float64(h.hwm)/(1<<20))
		}
		fmt.Fprintf(&b, "| (%s) %s | %.0f | %.4f | %s | %s | %s | %s | %s |\n", h.key, h.label, median(h.maxRPS), slices.Min(h.maxSuccess),
			ms(medianDur(h.p50)), ms(medianDur(h.p90)), ms(medianDur(h.p99)), cpu, mem)
	}
	tc, tb := median(dp.maxRPS), median(px.maxRPS)
	addC := medianDur(dp.p50) - medianDur(a.p50)
	addB := medianDur(px.p50) - medianDur(a.p50)
	fmt.Fprintf(&b, "\n**Ratios.** Throughput of (c) is **%s × (b)** (target ≥ 0.75, issue 19: %s). Added p50 over (a): (c) **+%s** (target ≤ 1.0 ms: %s), (b) +%s. "+
		"Added p99 over (a): (c) +%s, (b) +%s. Throughput of (c) is %.2f × (a), of (b) %.2f × (a).\n\n",
		ratio(tc/tb, 0.75), verdict(tc/tb >= 0.75), ms(addC), verdict(addC <= time.Millisecond), ms(addB),
		ms(medianDur(dp.p99)-medianDur(a.p99)), ms(medianDur(px.p99)-medianDur(a.p99)), tc/median(a.maxRPS), tb/median(a.maxRPS))
	if len(r.hops) > 3 {
		td := median(r.hops[3].maxRPS)
		fmt.Fprintf(&b, "With name resolution that keeps its answers, (d) is **%s × (b)** (target ≥ 0.75: %s); added p50 over (a) +%s.\n\n",
			ratio(td/tb, 0.75), verdict(td/tb >= 0.75), ms(medianDur(r.hops[3].p50)-medianDur(a.p50)))
	} else if r.mdnsErr != nil {
		fmt.Fprintf(&b, "(d) was not measured: `%s` (mDNS needs multicast on an interface).\n\n", oneLine(r.mdnsErr))
	}
	fmt.Fprintf(&b, "CPU per request is user + system time of the two hop processes (`/proc/<pid>/stat`, utime + stime, before and after the closed-loop run) divided by the successful requests; "+
		"on two cores the load generator, the hops and the handler share the CPU, which is what caps the closed-loop figures. RSS is `VmRSS` (and `VmHWM`) of the two processes after the runs.\n\n")
	b.WriteString(r.profile.markdown())
	fmt.Fprintf(&b, "<details><summary>Every repetition</summary>\n\n| rep | path | max req/s | p50 | p90 | p99 |\n|---:|---|---:|---:|---:|---:|\n")
	for i := range a.maxRPS {
		for _, h := range r.hops {
			fmt.Fprintf(&b, "| %d | (%s) | %.0f | %s | %s | %s |\n", i+1, h.key, h.maxRPS[i], ms(h.p50[i]), ms(h.p90[i]), ms(h.p99[i]))
		}
	}
	fmt.Fprintf(&b, "\n</details>\n\n")
	return b.String()
}
