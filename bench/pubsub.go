package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/daprshop/daprshop/internal/daprproc"
)

// Part 3: pub/sub end-to-end latency (publish → subscriber's handler) and
// sustained throughput, through two Dapr sidecars (publisher's daprd →
// NATS JetStream → subscriber's daprd → the subscriber's HTTP handler)
// against a direct nats.go JetStream client of the same nats-server.

const (
	daprTopic   = "bench.dapr"
	directTopic = "bench.direct"
)

// message is the payload: when it was published, and by which run.
type message struct {
	Run  int64 `json:"run"`
	Seq  int64 `json:"seq"`
	Sent int64 `json:"sent"` // Unix nanoseconds
}

// collector records the deliveries of the current run.
type collector struct {
	mu        sync.Mutex
	run       int64
	latencies []time.Duration
	last      time.Time
	got       atomic.Int64
}

func (c *collector) reset(run int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.run, c.latencies, c.last = run, c.latencies[:0], time.Time{}
	c.got.Store(0)
}

func (c *collector) deliver(m message) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.Run != c.run {
		return // a late copy from an earlier run
	}
	c.latencies = append(c.latencies, now.Sub(time.Unix(0, m.Sent)))
	c.last = now
	c.got.Add(1)
}

// waitFor waits until n deliveries of the run arrived, or within passed.
func (c *collector) waitFor(n int64, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for c.got.Load() < n {
		if time.Now().After(deadline) {
			return false
		}
		<-time.After(10 * time.Millisecond) // the poll interval
	}
	return true
}

type pubsubPath struct {
	key, label string
	publish    func(ctx context.Context, m message) error
	col        *collector
}

type pubsubRun struct {
	published, delivered int64
	rate                 float64 // sustained: delivered per second
	p50, p90, p99        time.Duration
	pubP50               time.Duration // the publish call itself
}

type pubsubResults struct {
	paths     []*pubsubPath
	sustained map[string][]pubsubRun
	fixed     map[string][]pubsubRun
	fixedRate int
	workers   int
	dur       time.Duration
}

func runPubSub(ctx context.Context, cfg config, log func(string, ...any)) (_ *pubsubResults, err error) {
	var stops []func()
	defer func() {
		for _, s := range slices.Backward(stops) {
			s()
		}
	}()
	dir, err := os.MkdirTemp("", "bench-pubsub-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	// nats-server, as the launcher runs it for the local profile.
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	natsSpec := daprproc.NATS{Port: ports[0], MonitorPort: ports[1], StoreDir: filepath.Join(dir, "nats")}
	natsProc, err := startChild(natsSpec.Spec(filepath.Join(cfg.bin, "nats-server"), dir, nil), 30*time.Second)
	if err != nil {
		return nil, err
	}
	stops = append(stops, natsProc.stop)
	natsURL := natsSpec.URL()
	nc, err := nats.Connect(natsURL, nats.Name("bench"))
	if err != nil {
		return nil, err
	}
	stops = append(stops, nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	// One stream per topic, file storage, as the launcher creates them.
	for _, topic := range []string{daprTopic, directTopic} {
		if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: strings.ReplaceAll(topic, ".", "_"),
			Subjects: []string{topic}, Storage: jetstream.FileStorage}); err != nil {
			return nil, fmt.Errorf("create stream %s: %w", topic, err)
		}
	}

	// The direct path: publish with an ack, consume with a durable pull
	// consumer, explicit acks (what the Dapr component is configured with).
	direct := &collector{}
	cons, err := js.CreateOrUpdateConsumer(ctx, strings.ReplaceAll(directTopic, ".", "_"), jetstream.ConsumerConfig{
		Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy, AckWait: time.Minute})
	if err != nil {
		return nil, err
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		var m message
		if json.Unmarshal(msg.Data(), &m) == nil {
			direct.deliver(m)
		}
		_ = msg.Ack()
	})
	if err != nil {
		return nil, err
	}
	stops = append(stops, cc.Stop)

	// The Dapr path: the subscriber app is an HTTP server here; its daprd
	// delivers CloudEvents to it.
	viaDapr := &collector{}
	sub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `[{"pubsubname":"pubsub","topic":%q,"route":"/events"}]`, daprTopic)
	})
	mux.HandleFunc("POST /events", func(w http.ResponseWriter, r *http.Request) {
		var ce struct {
			Data message `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&ce); err != nil {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"DROP"}`)
			return
		}
		viaDapr.deliver(ce.Data)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"SUCCESS"}`)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(sub) }()
	stops = append(stops, func() { _ = srv.Close() })

	// The local profile's own component, pointed at this run's server: the
	// settings measured are the ones the shop runs with.
	local, err := os.ReadFile(filepath.Join(cfg.root, "components", "local", "pubsub.yaml"))
	if err != nil {
		return nil, err
	}
	const localURL = "nats://127.0.0.1:4322"
	if !strings.Contains(string(local), localURL) {
		return nil, fmt.Errorf("components/local/pubsub.yaml no longer names %s; the benchmark cannot point it at its own server", localURL)
	}
	component, err := grantTopic(strings.Replace(string(local), localURL, natsURL, 1), "benchpub", "benchsub", daprTopic)
	if err != nil {
		return nil, err
	}
	res := filepath.Join(dir, "resources")
	if err := writeFiles(res, map[string]string{"pubsub.yaml": component}); err != nil {
		return nil, err
	}
	if err := writeFiles(dir, map[string]string{"config.yaml": benchConfig}); err != nil {
		return nil, err
	}
	subPort := sub.Addr().(*net.TCPAddr).Port
	subD, err := startDaprd(cfg.daprd, daprdOptions{appID: "benchsub", appPort: subPort, resources: res, config: filepath.Join(dir, "config.yaml")})
	if err != nil {
		return nil, err
	}
	stops = append(stops, subD.stop)
	pubD, err := startDaprd(cfg.daprd, daprdOptions{appID: "benchpub", resources: res, config: filepath.Join(dir, "config.yaml")})
	if err != nil {
		return nil, err
	}
	stops = append(stops, pubD.stop)

	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	hc := &http.Client{Transport: t, Timeout: 10 * time.Second}
	publishURL := pubD.base() + "/v1.0/publish/pubsub/" + daprTopic
	paths := []*pubsubPath{
		{key: "dapr", label: "through two Dapr sidecars", col: viaDapr, publish: func(ctx context.Context, m message) error {
			body, _ := json.Marshal(m)
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, publishURL, bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Dapr-Api-Token", daprToken)
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				return fmt.Errorf("publish: status %d", resp.StatusCode)
			}
			return nil
		}},
		{key: "direct", label: "direct nats.go JetStream client", col: direct, publish: func(ctx context.Context, m message) error {
			body, _ := json.Marshal(m)
			_, err := js.Publish(ctx, directTopic, body)
			return err
		}},
	}
	// Ready when a message makes it through each path.
	run := int64(0)
	for _, p := range paths {
		run++
		p.col.reset(run)
		deadline := time.Now().Add(60 * time.Second)
		for seq := int64(0); p.col.got.Load() == 0; seq++ {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s: no message delivered within 60s:\n%s", p.label, subD.tail(20))
			}
			_ = p.publish(ctx, message{Run: run, Seq: seq, Sent: time.Now().UnixNano()})
			p.col.waitFor(1, time.Second)
		}
	}

	r := &pubsubResults{paths: paths, sustained: map[string][]pubsubRun{}, fixed: map[string][]pubsubRun{}, workers: 16, dur: cfg.benchtime}
	drain := 30*time.Second + cfg.benchtime
	// Sustained throughput: 16 publishers as fast as their publish calls
	// return; the rate is the deliveries over the time until the last one.
	for rep := range cfg.reps {
		for _, p := range order(paths, rep) {
			run++
			p.col.reset(run)
			began := time.Now()
			var seq, failed atomic.Int64
			var wg sync.WaitGroup
			end := began.Add(cfg.benchtime)
			for range r.workers {
				wg.Go(func() {
					for time.Now().Before(end) {
						if p.publish(ctx, message{Run: run, Seq: seq.Add(1), Sent: time.Now().UnixNano()}) != nil {
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			published := seq.Load() - failed.Load()
			p.col.waitFor(published, drain)
			pr := summarize(p.col, published, began)
			r.sustained[p.key] = append(r.sustained[p.key], pr)
			log("part 3: rep %d %-32s sustained %.0f msg/s (%d of %d delivered, %d publish errors)", rep+1, p.label, pr.rate, pr.delivered, published, failed.Load())
		}
	}
	slowest := median(rates(r.sustained[paths[0].key]))
	for _, p := range paths {
		slowest = min(slowest, median(rates(r.sustained[p.key])))
	}
	r.fixedRate = max(10, int(slowest/4)/10*10)
	// Latency at a fixed rate, open loop: a message every 1/rate seconds
	// whatever the previous publish is doing.
	for rep := range cfg.reps {
		for _, p := range order(paths, rep) {
			run++
			p.col.reset(run)
			began := time.Now()
			var published, failed atomic.Int64
			var pubMu sync.Mutex
			var pubLat []time.Duration
			var wg sync.WaitGroup
			pacer := vegeta.ConstantPacer{Freq: r.fixedRate, Per: time.Second}
			for hits := uint64(0); ; hits++ {
				wait, stop := pacer.Pace(time.Since(began), hits)
				if stop || time.Since(began) >= cfg.benchtime {
					break
				}
				if wait > 0 {
					<-time.After(wait) // pacing the open loop
				}
				wg.Go(func() {
					sent := time.Now()
					if p.publish(ctx, message{Run: run, Seq: int64(hits), Sent: sent.UnixNano()}) != nil {
						failed.Add(1)
						return
					}
					published.Add(1)
					pubMu.Lock()
					pubLat = append(pubLat, time.Since(sent))
					pubMu.Unlock()
				})
			}
			wg.Wait()
			p.col.waitFor(published.Load(), drain)
			pr := summarize(p.col, published.Load(), began)
			pr.pubP50 = percentile(pubLat, 0.5)
			r.fixed[p.key] = append(r.fixed[p.key], pr)
			log("part 3: rep %d %-32s at %d/s p50 %s p90 %s p99 %s (%d of %d delivered, %d publish errors)", rep+1, p.label, r.fixedRate,
				pr.p50, pr.p90, pr.p99, pr.delivered, pr.published, failed.Load())
		}
	}
	return r, nil
}

func summarize(c *collector, published int64, began time.Time) pubsubRun {
	c.mu.Lock()
	defer c.mu.Unlock()
	pr := pubsubRun{published: published, delivered: int64(len(c.latencies))}
	if !c.last.IsZero() {
		pr.rate = float64(pr.delivered) / c.last.Sub(began).Seconds()
	}
	pr.p50, pr.p90, pr.p99 = percentile(c.latencies, 0.5), percentile(c.latencies, 0.9), percentile(c.latencies, 0.99)
	return pr
}

func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func rates(rs []pubsubRun) []float64 {
	var out []float64
	for _, r := range rs {
		out = append(out, r.rate)
	}
	return out
}

func pick(rs []pubsubRun, f func(pubsubRun) time.Duration) time.Duration {
	var ds []time.Duration
	for _, r := range rs {
		ds = append(ds, f(r))
	}
	return medianDur(ds)
}

func (r *pubsubResults) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## 3. Pub/sub\n\n")
	fmt.Fprintf(&b, "End-to-end latency (publish → the subscriber's handler) and sustained throughput of the local profile's broker, NATS JetStream (`.bin/nats-server`, "+
		"one file-storage stream per topic, as the launcher creates them): through two Dapr sidecars (the publisher's daprd over HTTP `/v1.0/publish`, "+
		"`pubsub.jetstream` with the local profile's settings, the subscriber's daprd delivering a CloudEvent to an HTTP handler) against a direct "+
		"`nats.go` JetStream client of the same server (publish with ack, durable pull consumer, explicit ack). Publishers and subscribers run in the benchmark process, so one clock times both ends.\n\n")
	fmt.Fprintf(&b, "Sustained: %d publishers as fast as their publish calls return, for %s; the rate is messages delivered over the time until the last delivery. "+
		"Latency: open loop at %d msg/s (a quarter of the slower path's sustained rate) for %s. %d repetitions, alternating the order; medians.\n\n",
		r.workers, r.dur, r.fixedRate, r.dur, len(r.sustained[r.paths[0].key]))
	fmt.Fprintf(&b, "| path | sustained msg/s | delivered | p50 | p90 | p99 at %d/s | publish call p50 |\n|---|---:|---:|---:|---:|---:|---:|\n", r.fixedRate)
	for _, p := range r.paths {
		var del, pub int64
		for _, x := range r.sustained[p.key] {
			del += x.delivered
			pub += x.published
		}
		for _, x := range r.fixed[p.key] {
			del += x.delivered
			pub += x.published
		}
		fx := r.fixed[p.key]
		fmt.Fprintf(&b, "| %s | %.0f | %d of %d | %s | %s | %s | %s |\n", p.label, median(rates(r.sustained[p.key])), del, pub,
			ms(pick(fx, func(x pubsubRun) time.Duration { return x.p50 })), ms(pick(fx, func(x pubsubRun) time.Duration { return x.p90 })),
			ms(pick(fx, func(x pubsubRun) time.Duration { return x.p99 })), ms(pick(fx, func(x pubsubRun) time.Duration { return x.pubP50 })))
	}
	d, n := r.fixed["dapr"], r.fixed["direct"]
	p99d := pick(d, func(x pubsubRun) time.Duration { return x.p99 })
	p99n := pick(n, func(x pubsubRun) time.Duration { return x.p99 })
	fmt.Fprintf(&b, "\n**Ratios.** p99 through the sidecars is the direct client's **+%s** (target ≤ +5 ms: %s); p50 +%s. Sustained throughput through the sidecars is **%.2f ×** the direct client's.\n\n",
		ms(p99d-p99n), verdict(p99d-p99n <= 5*time.Millisecond),
		ms(pick(d, func(x pubsubRun) time.Duration { return x.p50 })-pick(n, func(x pubsubRun) time.Duration { return x.p50 })),
		median(rates(r.sustained["dapr"]))/median(rates(r.sustained["direct"])))
	fmt.Fprintf(&b, "<details><summary>Every repetition</summary>\n\n| rep | path | sustained msg/s | p50 | p90 | p99 |\n|---:|---|---:|---:|---:|---:|\n")
	for i := range r.fixed[r.paths[0].key] {
		for _, p := range r.paths {
			s, f := r.sustained[p.key][i], r.fixed[p.key][i]
			fmt.Fprintf(&b, "| %d | %s | %.0f | %s | %s | %s |\n", i+1, p.key, s.rate, ms(f.p50), ms(f.p90), ms(f.p99))
		}
	}
	fmt.Fprintf(&b, "\n</details>\n\n")
	return b.String()
}

// grantTopic adds topic to the component's topic scoping (allowedTopics,
// protectedTopics, and the publishing and subscription scopes of the two
// bench apps), so that the benchmark's sidecars run the same scope checks
// as the shop's, on a topic of their own.
func grantTopic(component, pubApp, subApp, topic string) (string, error) {
	add := map[string]string{
		"allowedTopics":      "," + topic,
		"protectedTopics":    "," + topic,
		"publishingScopes":   ";" + pubApp + "=" + topic,
		"subscriptionScopes": ";" + subApp + "=" + topic,
	}
	lines := strings.Split(component, "\n")
	for i := 0; i+1 < len(lines); i++ {
		name, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "- name: ")
		suffix, scoped := add[name]
		if !ok || !scoped {
			continue
		}
		value := strings.TrimSpace(lines[i+1])
		if !strings.HasPrefix(value, `value: "`) || !strings.HasSuffix(value, `"`) {
			return "", fmt.Errorf("components/local/pubsub.yaml: %s is not a quoted value on the next line", name)
		}
		lines[i+1] = strings.TrimSuffix(lines[i+1], `"`) + suffix + `"`
		delete(add, name)
	}
	if len(add) > 0 {
		return "", fmt.Errorf("components/local/pubsub.yaml lacks %d of the topic scoping fields", len(add))
	}
	return strings.Join(lines, "\n"), nil
}
