package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
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
		"hosted by the benchmark process on a daprd of its own that joins the whole local system, started afresh by the launcher as for the checkout and running idle beside it: the system's placement, scheduler and sentry (mTLS, an identity of its own), as orders' sidecar has them (`launcher.System.Join`), with the project's own settings read from its files (`bench/noop_config.go`): the workflow store of `components/local/orders-workflows.yaml` (SQLite, its busy timeout and synchronous setting; only the file's path differs), the tracing and workflow settings of `dapr/config/orders.yaml` (every request sampled, exported over OTLP to 127.0.0.1:4318, as the checkout's sidecars do; nothing listens there in the benchmark's network namespace, for either). Not copied: access control, which acts on calls between sidecars, and its no-op activities make none. Scheduled directly with the workflow client; latency from the schedule call to the last activity.\n")
	fmt.Fprintf(&b, "- **same participant calls by DTM**: DTM %s (`tools/dtm`, built from the Go module proxy), its embedded BoltDB store, runs a saga of the same three participant calls "+
		"(catalog try, compensated by cancel; payments charge, compensated by refund; catalog confirm) with the same bodies, through the orders app's sidecar exactly as the checkout saga's activities call them "+
		"(HTTP service invocation, orders' API token, the participants' access control), on the local profile's system started afresh for it (the same seeded stock and shoppers). "+
		"The seed's cheap products hold 960 units, fewer than DTM's rising steps need, so when the stock left is short of the next step the system is replaced by a fresh one between steps (noted in the table; DTM's server keeps running), "+
		"and a step even a fresh system's stock cannot hold whole is shortened to that stock. "+
		"It does not save, update or publish an order: the Dapr saga's SaveOrder and the order's end (orders' store, the outbox event and the notification it causes) have no counterpart, so this is DTM's cost for the participant calls alone. "+
		"Submitted with `wait_result`; latency is the submit call. DTM's server listens on every interface (no setting), so `make bench` runs the whole benchmark in a private network namespace that has only loopback.\n", r.dtmVersion)
	fmt.Fprintf(&b, "- **participant calls by Dapr Workflow**: exactly what DTM does, by a workflow (`bench/daprcalls.go`): the same three calls with the same bodies through orders' sidecar with orders' token, a failed branch compensated with the ones before it in reverse order, "+
		"on the local profile's system (fresh ones between steps as for DTM), scheduled with the workflow client on an engine of the benchmark's own (placement, scheduler, one daprd with the project's workflow store and tracing, the ceiling's settings), as DTM's server is its own. "+
		"Latency from the schedule call to the end of the last call. The like-for-like comparison with DTM: the engine against DTM's on the same calls, no order saved or ended by either.\n\n")
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
		fmt.Fprintf(&b, "**Ratios.** The checkout saga reaches **%s ×** the no-op ceiling on the local profile (target ≥ 0.6, issue 19: %s)", ratio(x, 0.6), verdict(x >= 0.6))
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
			fmt.Fprintf(&b, " The checkout against DTM's bare calls (local profile): **%.2f ×**.", y)
			if best["daprcalls"] > 0 {
				z := best["daprcalls"] / best["dtm"]
				w := verdict(z >= 0.5)
				if d := byName["dtm"]; d != nil && !saturated(d) {
					if z >= 0.5 {
						w = "cannot be judged"
					}
					w += "; DTM did not saturate within the run's rates and stock, so its ceiling is higher and the true ratio lower"
				}
				fmt.Fprintf(&b, " Like for like, the same participant calls by Dapr Workflow reach **%s ×** DTM (target ≥ 0.5: %s), and the checkout %.2f × those calls by Dapr Workflow (what the order itself costs: saving it, its end, its event and notification).", ratio(z, 0.5), w, best["local"]/best["daprcalls"])
			} else {
				fmt.Fprintf(&b, " (The like-for-like series, the same calls by Dapr Workflow, has no figure: target ≥ 0.5 × DTM %s.)", verdict(false))
			}
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
		var orders float64
		for _, op := range r.stateOps {
			if op.component == "orders-store" {
				orders += op.perSaga
			}
		}
		fmt.Fprintf(&b, "The benchmark read each order %.2f times per saga through the gateway (its latency polling, one get of orders-store each), so the checkout's own operations are "+
			"**%.1f per saga** in all (target ≤ 16, issue 19: %s) and **%.1f** on orders-store (target ≤ 6: %s).\n\n",
			r.orderReads, total-r.orderReads, verdict(total-r.orderReads <= 16), orders-r.orderReads, verdict(orders-r.orderReads <= 6))
	}
	b.WriteString(r.cpuMarkdown())
	return b.String()
}

// cpuMarkdown is where a saga's CPU goes: per process per saga at each
// series' best step, and the profiles of the checkout's hungriest
// processes.
func (r *sagaResults) cpuMarkdown() string {
	var measured []*sagaSeries
	var steps []*sagaStep
	for _, s := range r.series {
		if st := bestStep(s); st != nil && len(st.cpu) > 0 {
			measured, steps = append(measured, s), append(steps, st)
		}
	}
	if len(measured) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("**CPU per process per saga**, at each series' best step (the one its figure above comes from): user + system CPU time of every process of the series' system (`/proc/<pid>/stat`) from the step's first arrival to its last saga's end, divided by the sagas that ended in it. " +
		"`bench` is the benchmark's own process: it places the orders and polls them (the latency's reads) through the shop's client, and for the ceiling and the calls by Dapr Workflow it also runs the workflow worker and its activities; `daprd` and its `placement` and `scheduler` are the engine of the benchmark's own (wfhost.go) where a series has one, the others the system's. " +
		"On two cores the whole system and the load share the CPU, so 2 s over a saga's CPU is about the most sagas per second that step could complete.\n\n")
	b.WriteString("| process |")
	for i, s := range measured {
		fmt.Fprintf(&b, " %s (%d/s, %d sagas) |", s.label, steps[i].rate, steps[i].completed+steps[i].cancelled)
	}
	b.WriteString("\n|---|")
	for range measured {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	var names []string
	for _, st := range steps {
		for _, p := range st.cpu {
			if !slices.Contains(names, p.name) {
				names = append(names, p.name)
			}
		}
	}
	totals := make([]time.Duration, len(measured))
	for _, n := range names {
		fmt.Fprintf(&b, "| %s |", n)
		for i, st := range steps {
			cell := "–"
			for _, p := range st.cpu {
				if p.name == n {
					cell = fmt.Sprintf("%.2f ms", float64(p.perSaga)/1e6)
					totals[i] += p.perSaga
				}
			}
			fmt.Fprintf(&b, " %s |", cell)
		}
		b.WriteString("\n")
	}
	b.WriteString("| **all** |")
	for _, t := range totals {
		fmt.Fprintf(&b, " **%.1f ms** |", float64(t)/1e6)
	}
	b.WriteString("\n| 2 s / all |")
	for _, t := range totals {
		fmt.Fprintf(&b, " %.1f sagas/s |", float64(2*time.Second)/float64(t))
	}
	b.WriteString("\n\n")
	for _, s := range r.series {
		b.WriteString(profilesMarkdown(s))
	}
	return b.String()
}

// profilesMarkdown lists the top functions of the four hungriest
// processes that were profiled in the series' profiling step.
func profilesMarkdown(s *sagaSeries) string {
	var b strings.Builder
	if s.profiled == nil {
		if s.profileNote != "" {
			fmt.Fprintf(&b, "No CPU profiles for %s: %s.\n\n", s.label, s.profileNote)
		}
		return b.String()
	}
	st := s.profiled
	fmt.Fprintf(&b, "**CPU profiles, %s.** After the rising run, one more step at its best rate (%d/s: %d offered, %d completed, p99 %s; counted in no figure above) while every app (its admin port) and every sidecar (`enableProfiling`, a profile port each) was profiled for the step's arrivals; "+
		"the profiles are in `%s` (`go tool pprof -http=: <file>`). For the four hungriest processes of the table above, the functions with the most CPU in and below them (`go tool pprof -top -cum`, with the runtime, syscalls, locks, HTTP and gRPC plumbing and the retry and middleware wrappers hidden: `bench/cpu.go`):\n\n",
		s.label, st.rate, st.offered, st.completed, ms(st.p99), s.profileDir)
	var order []procCPU
	if best := bestStep(s); best != nil {
		order = best.cpu
	}
	shown := 0
	for _, p := range order {
		if shown == 4 {
			break
		}
		for _, pr := range s.profiles {
			if pr.name != p.name {
				continue
			}
			shown++
			if pr.err != nil {
				fmt.Fprintf(&b, "- %s: no profile: `%s`\n\n", pr.name, oneLine(pr.err))
				continue
			}
			fmt.Fprintf(&b, "- %s (%.2f ms per saga at the best step):\n\n  ```\n  flat  flat%%   sum%%   cum   cum%%\n", pr.name, float64(p.perSaga)/1e6)
			for _, l := range pr.top {
				fmt.Fprintf(&b, "  %s\n", l)
			}
			b.WriteString("  ```\n\n")
		}
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
