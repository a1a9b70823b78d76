package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

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
		"one file-storage stream per topic, as the launcher creates them), through two Dapr sidecars (`pubsub.jetstream` with the local profile's settings and topic scoping; "+
		"the subscriber's daprd delivering to an HTTP handler that reads each event with `cloudevent.Decode`, as the shop's consumers do) against a direct "+
		"`nats.go` JetStream client of the same server (publish with ack, durable pull consumer, explicit ack). The Dapr publishers: HTTP `/v1.0/publish` with a bare JSON body "+
		"(daprd wraps it in a CloudEvent); gRPC with the shop's own CloudEvent (`cloudevent.Envelope` through the go-sdk on `internal/sidecar`'s connection: how orders publishes); "+
		"gRPC bulk publish of %d CloudEvents a call. The local profile's component hands daprd one message after another's ack (`concurrencyMode` single, the default, "+
		"which keeps a stream's order); a variant of it that differs only in `concurrencyMode: parallel` delivers one a request to the same handler, or by bulk subscribe "+
		"(at most %d a delivery, %s to fill one: with single, a batch never fills, as each message waits for its own ack). "+
		"Publishers and subscribers run in the benchmark process, so one clock times both ends.\n\n", bulkSize, bulkSize, bulkAwait)
	fmt.Fprintf(&b, "Sustained: %d publishers as fast as their publish calls return, for %s; the rate is messages delivered over the time until the last delivery. "+
		"Latency: open loop at %d msg/s (a quarter of the slowest one-at-a-time path's sustained rate) for %s, not for the bulk paths (they batch). %d repetitions, alternating the order; medians.\n\n",
		r.workers, r.dur, r.fixedRate, r.dur, len(r.sustained[r.paths[0].key]))
	fmt.Fprintf(&b, "| path | sustained msg/s | × direct | delivered | p50 | p90 | p99 at %d/s | publish call p50 |\n|---|---:|---:|---:|---:|---:|---:|---:|\n", r.fixedRate)
	direct := median(rates(r.sustained["direct"]))
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
		rate := median(rates(r.sustained[p.key]))
		lat := "n/a | n/a | n/a | n/a"
		if fx := r.fixed[p.key]; len(fx) > 0 {
			lat = fmt.Sprintf("%s | %s | %s | %s", ms(pick(fx, func(x pubsubRun) time.Duration { return x.p50 })), ms(pick(fx, func(x pubsubRun) time.Duration { return x.p90 })),
				ms(pick(fx, func(x pubsubRun) time.Duration { return x.p99 })), ms(pick(fx, func(x pubsubRun) time.Duration { return x.pubP50 })))
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %d of %d | %s |\n", p.label, rate, rate/direct, del, pub, lat)
	}
	d, n := r.fixed["dapr-grpc"], r.fixed["direct"]
	p99d := pick(d, func(x pubsubRun) time.Duration { return x.p99 })
	p99n := pick(n, func(x pubsubRun) time.Duration { return x.p99 })
	best, bestKey := 0.0, ""
	for _, p := range r.paths {
		if rate := median(rates(r.sustained[p.key])); p.key != "direct" && rate > best {
			best, bestKey = rate, p.key
		}
	}
	fmt.Fprintf(&b, "\n**Ratios.** Published as the services publish (gRPC, their CloudEvent), p99 through the sidecars is the direct client's **+%s** (target ≤ +5 ms: %s); p50 +%s; "+
		"sustained throughput **%s ×** the direct client's (target ≥ 0.3: %s). The fastest Dapr path (%s) reaches **%.2f ×**.\n\n",
		ms(p99d-p99n), verdict(p99d-p99n <= 5*time.Millisecond),
		ms(pick(d, func(x pubsubRun) time.Duration { return x.p50 })-pick(n, func(x pubsubRun) time.Duration { return x.p50 })),
		ratio(median(rates(r.sustained["dapr-grpc"]))/direct, 0.3), verdict(median(rates(r.sustained["dapr-grpc"]))/direct >= 0.3), bestKey, best/direct)
	b.WriteString(r.profile.markdown())
	fmt.Fprintf(&b, "<details><summary>Every repetition</summary>\n\n| rep | path | sustained msg/s | p50 | p90 | p99 |\n|---:|---|---:|---:|---:|---:|\n")
	for i := range r.sustained[r.paths[0].key] {
		for _, p := range r.paths {
			s := r.sustained[p.key][i]
			lat := "n/a | n/a | n/a"
			if fx := r.fixed[p.key]; i < len(fx) {
				lat = fmt.Sprintf("%s | %s | %s", ms(fx[i].p50), ms(fx[i].p90), ms(fx[i].p99))
			}
			fmt.Fprintf(&b, "| %d | %s | %.0f | %s |\n", i+1, p.key, s.rate, lat)
		}
	}
	fmt.Fprintf(&b, "\n</details>\n\n")
	return b.String()
}
