package main

import (
	"context"
	"encoding/json"
	"fmt"
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
	key, label  string
	publish     func(ctx context.Context, m message) error
	batch       int // > 0: publishMany takes this many at a time
	publishMany func(ctx context.Context, ms []message) error
	col         *collector
}

// send publishes n messages of run, numbered from seq, in one call when
// the path takes batches, else one at a time.
func (p *pubsubPath) send(ctx context.Context, run, seq, n int64) error {
	ms := make([]message, n)
	for i := range ms {
		ms[i] = message{Run: run, Seq: seq + int64(i), Sent: time.Now().UnixNano()}
	}
	if p.publishMany != nil {
		return p.publishMany(ctx, ms)
	}
	for _, m := range ms {
		if err := p.publish(ctx, m); err != nil {
			return err
		}
	}
	return nil
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
	profile   *pubsubProfile
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
	for _, topic := range []string{daprTopic, parallelTopic, bulkTopic, directTopic} {
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

	// The Dapr paths: the subscriber app is an HTTP server here; its
	// daprd delivers CloudEvents to it.
	viaDapr := &collector{}
	subPort, stopSub, err := serveSubscriber(viaDapr)
	if err != nil {
		return nil, err
	}
	stops = append(stops, stopSub)

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
	component, err := grantTopics(strings.Replace(string(local), localURL, natsURL, 1), "benchpub", "benchsub", daprTopic, parallelTopic, bulkTopic)
	if err != nil {
		return nil, err
	}
	parallel, err := parallelVariant(component)
	if err != nil {
		return nil, err
	}
	res := filepath.Join(dir, "resources")
	if err := writeFiles(res, map[string]string{"pubsub.yaml": component, "pubsub-parallel.yaml": parallel}); err != nil {
		return nil, err
	}
	if err := writeFiles(dir, map[string]string{"config.yaml": benchConfig}); err != nil {
		return nil, err
	}
	subD, err := startDaprd(cfg.daprd, daprdOptions{appID: "benchsub", appPort: subPort, resources: res, config: filepath.Join(dir, "config.yaml"), profiling: true})
	if err != nil {
		return nil, err
	}
	stops = append(stops, subD.stop)
	pubD, err := startDaprd(cfg.daprd, daprdOptions{appID: "benchpub", resources: res, config: filepath.Join(dir, "config.yaml"), profiling: true})
	if err != nil {
		return nil, err
	}
	stops = append(stops, pubD.stop)

	paths, closeClient, err := daprPaths(pubD, viaDapr)
	if err != nil {
		return nil, err
	}
	stops = append(stops, closeClient)
	paths = append(paths,
		&pubsubPath{key: "direct", label: "direct nats.go JetStream client", col: direct, publish: func(ctx context.Context, m message) error {
			body, _ := json.Marshal(m)
			_, err := js.Publish(ctx, directTopic, body)
			return err
		}},
	)
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
			_ = p.send(ctx, run, seq, 1)
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
			pr, failed := sustain(ctx, p, run, r.workers, cfg.benchtime, drain)
			r.sustained[p.key] = append(r.sustained[p.key], pr)
			log("part 3: rep %d %-32s sustained %.0f msg/s (%d of %d delivered, %d publish errors)", rep+1, p.label, pr.rate, pr.delivered, pr.published, failed)
		}
	}
	slowest := median(rates(r.sustained[paths[0].key]))
	for _, p := range paths {
		if p.batch == 0 {
			slowest = min(slowest, median(rates(r.sustained[p.key])))
		}
	}
	r.fixedRate = max(10, int(slowest/4)/10*10)
	// Latency at a fixed rate, open loop: a message every 1/rate seconds
	// whatever the previous publish is doing (not for the bulk paths,
	// which wait to fill a batch).
	for rep := range cfg.reps {
		for _, p := range order(paths, rep) {
			if p.batch > 0 {
				continue
			}
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
	run++
	r.profile = profilePubSub(ctx, cfg, paths, run, r.workers, drain, map[string]int{
		"publisher's daprd": pubD.PID(), "subscriber's daprd": subD.PID(), "nats-server": natsProc.PID(), "bench (publishers, subscriber)": os.Getpid(),
	}, []profileTarget{
		{"publisher.daprd", fmt.Sprintf("http://127.0.0.1:%d", pubD.ProfilePort)}, {"subscriber.daprd", fmt.Sprintf("http://127.0.0.1:%d", subD.ProfilePort)},
	}, log)
	return r, nil
}
