package main

import (
	"fmt"
	"strings"
)

// The checkout saga part's section of the report.

// markdown is the part's section.
func (r *sagaResults) markdown() string {
	var b strings.Builder
	byName := map[string]*sagaSeries{}
	for _, s := range r.series {
		byName[s.name] = s
	}
	fmt.Fprintf(&b, "## 2. Checkout saga\n\n")
	fmt.Fprintf(&b, "Sagas started at rising arrival rates (open loop: 2, 4, 8, … per second, %s per step) until p99 passes 2 s, throughput falls below 80%% of the arrival rate "+
		"(the backlog grows), a saga fails or does not end within a minute, or the catalog's stock or the shoppers' money would run out. "+
		"Throughput is completed sagas over the time from the step's first arrival to its last completion; latency runs from the request that started a saga to its end as recorded by whoever ran it.\n\n", r.stepDur)
	fmt.Fprintf(&b, "- **checkout saga, local profile**: the whole system started afresh by the launcher from `dapr/dapr.yaml` (mTLS, access control, tracing to a discarding collector: the project as it runs), "+
		"`POST /api/v1/orders` through the gateway by 32 registered shoppers, one unit of one of the cheap, well-stocked products per order. "+
		"Latency: from sending the request to the order's `updated_at` (its last change, made by the saga's last activity), read back through the gateway.\n")
	redisSource := "a Redis server on " + redisAddr
	if s := byName["redis"]; s != nil && s.source != "" {
		redisSource = s.source
	}
	fmt.Fprintf(&b, "- **checkout saga, redis profile**: the same, on the `redis` profile (`components/redis/`: every store and Redis Streams in one Redis database) with %s. "+
		"Its state stores are daprshop's own pluggable component (`state.daprshop-redis`, `pluggable/redisstate`, a process the launcher starts beside the sidecars), "+
		"not Dapr's `state.redis`, whose transactions are not all-or-nothing (docs/dapr-notes.md): so its figures include a gRPC hop over a Unix socket per state operation, "+
		"and its stock and money invariant is checked below like the local profile's.\n", redisSource)
	fmt.Fprintf(&b, "- **no-op workflow (ceiling)**: the same workflow shape (SaveOrder, then three steps each after a zero-timeout check for a cancel event, the last of which ends it as the checkout's ConfirmReservation does; the same retry policy) whose activities do nothing, "+
		"hosted by the benchmark process on one daprd of its own, placement and scheduler, with the project's own settings read from its files (`bench/noop_config.go`): the workflow store of `components/local/orders-workflows.yaml` (SQLite, its busy timeout and synchronous setting; only the file's path differs) and the tracing of `dapr/config/orders.yaml` (every request sampled, exported over OTLP to 127.0.0.1:4318, as the checkout's sidecars do; nothing listens there in the benchmark's network namespace, for either). Not copied: mTLS and access control, which act on calls between sidecars, and its no-op activities make none. Scheduled directly with the workflow client; latency from the schedule call to the last activity.\n")
	fmt.Fprintf(&b, "- **same participant calls by DTM**: DTM %s (`tools/dtm`, built from the Go module proxy), its embedded BoltDB store, runs a saga of the same three participant calls "+
		"(catalog try, compensated by cancel; payments charge, compensated by refund; catalog confirm) with the same bodies, through the orders app's sidecar exactly as the checkout saga's activities call them "+
		"(HTTP service invocation, orders' API token, the participants' access control), on the local profile's system started afresh for it (the same seeded stock and shoppers). "+
		"The seed's cheap products hold 960 units, fewer than DTM's rising steps need, so when the stock left is short of the next step the system is replaced by a fresh one between steps (noted in the table; DTM's server keeps running), "+
		"and a step even a fresh system's stock cannot hold whole is shortened to that stock. "+
		"It does not save, update or publish an order: the Dapr saga's SaveOrder and the order's end (orders' store, the outbox event and the notification it causes) have no counterpart, so this is DTM's cost for the participant calls alone. "+
		"Submitted with `wait_result`; latency is the submit call. DTM's server listens on every interface (no setting), so `make bench` runs the whole benchmark in a private network namespace that has only loopback.\n\n", r.dtmVersion)
	fmt.Fprintf(&b, "| series | arrivals/s | offered | completed | cancelled | failed | sagas/s | p50 | p90 | p99 | notes; stopped because |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	best := map[string]float64{}
	for _, s := range r.series {
		if s.skipped != "" {
			fmt.Fprintf(&b, "| %s | – | | | | | | | | | **not run**: %s |\n", s.label, s.skipped)
			continue
		}
		if s.err != nil && len(s.steps) == 0 {
			fmt.Fprintf(&b, "| %s | – | | | | | | | | | **not measured**: `%s` |\n", s.label, oneLine(s.err))
			continue
		}
		for _, st := range s.steps {
			notes := st.note
			if st.stop != "" {
				if notes != "" {
					notes += "; "
				}
				notes += "**stopped**: " + st.stop
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %.1f | %s | %s | %s | %s |\n", s.label, st.rate, st.offered, st.completed, st.cancelled, st.failed, st.tput,
				ms(st.p50), ms(st.p90), ms(st.p99), notes)
			if st.p99 <= maxSagaP99 && st.failed == 0 {
				best[s.name] = max(best[s.name], st.tput)
			}
		}
		if s.err != nil {
			fmt.Fprintf(&b, "| %s | | | | | | | | | | then failed: `%s` |\n", s.label, oneLine(s.err))
		}
	}
	fmt.Fprintf(&b, "\nHighest completed sagas per second in a step whose p99 stayed within 2 s with no failure (a step that fell behind its arrival rate counts: it shows the most the series completed per second): ")
	var parts []string
	for _, s := range r.series {
		if s.skipped == "" {
			parts = append(parts, fmt.Sprintf("%s %.1f sagas/s", s.label, best[s.name]))
		}
	}
	fmt.Fprintf(&b, "%s.\n\n", strings.Join(parts, "; "))
	if best["noop"] > 0 && best["local"] > 0 {
		x := best["local"] / best["noop"]
		fmt.Fprintf(&b, "**Ratios.** The checkout saga reaches **%.2f ×** the no-op ceiling on the local profile (target ≥ 0.6, issue 19: %s)", x, verdict(x >= 0.6))
		if best["redis"] > 0 {
			y := best["redis"] / best["noop"]
			held := "whose invariants were not checked"
			if inv := byName["redis"].invariant; inv != nil && inv.Err == nil {
				switch {
				case inv.Held():
					held = "whose stock and money invariant held in this run"
				case inv.Broken():
					held = "with its stock and money invariant **broken** in this run"
				default:
					held = "whose invariant check was inconclusive"
				}
			}
			fmt.Fprintf(&b, ", and **%.2f ×** on the redis profile (%s)", y, held)
		}
		b.WriteString(".")
		if best["dtm"] > 0 {
			y := best["local"] / best["dtm"]
			v := verdict(y >= 0.5)
			if d := byName["dtm"]; d != nil && !saturated(d) {
				if y >= 0.5 {
					v = "cannot be judged"
				}
				v += "; DTM did not saturate within the run's rates and stock, so its ceiling is higher and the true ratio lower"
			}
			fmt.Fprintf(&b, " Against DTM (local profile): **%.2f ×** (target ≥ 0.5: %s).", y, v)
		}
		fmt.Fprintf(&b, " The rates double from step to step (with one more step at ¾ of the first rate that failed), so a ratio is coarse: it says which step each series reached.\n\n")
	}
	var invs []string
	for _, s := range r.series {
		if s.invariant == nil {
			continue
		}
		where := ""
		if s.invariant.Systems > 1 {
			where = fmt.Sprintf(" (summed over its %d systems)", s.invariant.Systems)
		}
		invs = append(invs, fmt.Sprintf("- %s%s: %s.\n", s.label, where, s.invariant.Summary()))
	}
	if len(invs) > 0 {
		b.WriteString("**Stock and money invariant, measured.** After each series' sagas ended, the benchmark ran the shop's invariant checker (`internal/shopclient`'s `Audit`, the one the end-to-end tests run after every saga scenario) over the system: " +
			"per product, available + reserved + sold as before the series (no unit made or lost); no reservation held; every completed order charged exactly its total, once, and no cancelled one paid; " +
			"the units sold, the money gone from the shoppers' wallets and the money the merchant got exactly what the completed orders account for (per product and per wallet when every outcome is known). " +
			"Outcomes are the orders' final status read through the gateway (DTM: its submit answer, its charge held under its gid). A saga whose outcome the run could not learn (it did not end within the drain time and a minute more, failed to start, or DTM answered FAILURE) may or may not have sold its unit and kept its price: a difference those sagas could explain makes the check inconclusive, one they cannot makes it broken.\n\n")
		b.WriteString(strings.Join(invs, ""))
		b.WriteString("\n")
	}
	if len(r.stateOps) > 0 {
		fmt.Fprintf(&b, "**State-store operations per saga, local profile** (%d sagas; successful operations counted by each sidecar's `dapr_component_state_count` and `dapr_component_transaction_count`, "+
			"difference before and after the rising run, divided by the sagas; it includes the order reads of the latency polling and the notifications the sagas' events cause). "+
			"The workflow engine's own writes to the actor state store (its history) do not go through these counters:\n\n| app | component | operation | per saga |\n|---|---|---|---:|\n", r.sagas)
		var total float64
		for _, op := range r.stateOps {
			fmt.Fprintf(&b, "| %s | %s | %s | %.2f |\n", op.app, op.component, op.operation, op.perSaga)
			total += op.perSaga
		}
		fmt.Fprintf(&b, "| | | **all** | **%.1f** |\n\n", total)
	}
	return b.String()
}

// saturated reports whether a series stopped because it could not keep
// up (p99, backlog, failures) rather than for want of stock or rates.
func saturated(s *sagaSeries) bool {
	for _, st := range s.steps {
		if st.stop == "p99 passed 2 s" || strings.HasPrefix(st.stop, "throughput below") || st.failed > 0 {
			return true
		}
	}
	return false
}
