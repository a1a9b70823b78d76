package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/shopclient"
)

// Crashes in the middle of running sagas: the invariant checker of the
// saga issue is the oracle. Each iteration places a burst of checkouts
// (each retried with its idempotency key until accepted, as a client
// would), kills the target with SIGKILL at a random moment of the burst,
// and waits for the launcher to restart it, as a container runtime would.
// A quarter of the checkouts come from a user with no wallet: their charge
// is declined and the saga compensates (releases the stock), so kills land
// before the charge, after it and during compensation.

// chaosProducts are the products the crash scenarios buy, one unit a
// checkout; each scenario first tops up their stock by a goods receipt
// (newChaosSagas), so that no checkout of it runs out.
var chaosProducts = []string{"paper-filters-100", "filter-coffee-500g", "espresso-beans-1kg", "ceramic-mug-350ml"}

// sagaSettleBound is how long after a fault's end every saga of its
// iteration must have ended.
const sagaSettleBound = 2 * time.Minute

func TestChaosCrashMidSaga(t *testing.T) {
	skipShort(t)
	targets := []struct {
		name  string
		procs []string
	}{
		{"orders app and sidecar", []string{"orders", "orders.daprd"}},
		{"payments app and sidecar", []string{"payments", "payments.daprd"}},
		{"catalog app and sidecar", []string{"catalog", "catalog.daprd"}},
		{"placement", []string{"placement"}},
		{"scheduler", []string{"scheduler"}},
	}
	if profileName() == "redis" {
		// The profile's state store is a process of its own (pluggable/
		// redisstate): killed mid-transaction, a transaction is in Redis
		// whole or not at all, and the sidecars reconnect to its new
		// process without being told.
		targets = append(targets, struct {
			name  string
			procs []string
		}{"state store component", []string{"redisstate"}})
	}
	// At full counts, 2,000 sagas through the five kills (401 each).
	iterations, perIteration := chaosCount(1, 10), chaosCount(8, 40)
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			run := newChaosSagas(t, iterations*perIteration+1)
			seed := uint64(time.Now().UnixNano())
			rng := rand.New(rand.NewPCG(seed, 9))
			t.Logf("seed %d", seed)
			var maxSettle time.Duration
			faults := 0
			for it := range iterations {
				placed := run.burst(t, perIteration)
				// The fault's moment: somewhere in the burst and the
				// sagas it starts (an unloaded saga takes ~50 ms, a
				// burst's last one several hundred).
				<-time.After(time.Duration(rng.Int64N(int64(700 * time.Millisecond))))
				order := slices.Clone(tg.procs)
				rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				readyAt := killAndAwaitRestart(t, order...)
				faults += len(order)
				ids := placed()
				settle := run.awaitSettled(t, ids, readyAt)
				maxSettle = max(maxSettle, settle)
				t.Logf("iteration %d: killed %v; %d sagas settled %s after the restart", it+1, order, len(ids), settle.Round(time.Millisecond))
			}
			// The system works again: a new checkout goes through (its
			// request retried while daprd reconnects, as a client would).
			recovered := run.awaitSettled(t, run.burst(t, 1)(), time.Now())
			maxSettle = max(maxSettle, recovered)
			t.Logf("a new checkout after the last fault ended in %s", recovered.Round(time.Millisecond))
			a := run.audit(t)
			recordChaos(chaosRow{
				Scenario: "crash mid-saga: kill -9 " + tg.name, Iterations: iterations, Faults: faults,
				Work: fmt.Sprintf("%d sagas", len(run.orders)), Violations: len(a.violations),
				Duplicates: a.replays, DupEffects: a.dupEffects, Settle: maxSettle,
			})
			t.Logf("%d sagas (%d completed, %d cancelled: %s), %d duplicate executions, max settle %s",
				len(run.orders), a.completed, a.cancelled, run.reasons(), a.replays, maxSettle.Round(time.Millisecond))
			assert.Empty(t, a.violations, "invariants broken")
			assert.Zero(t, a.dupEffects, "duplicate effects")
		})
	}
}

// killAndAwaitRestart sends SIGKILL to each named process, in the order
// given, waits until supervision has restarted every one and each is
// ready, and returns when they were.
func killAndAwaitRestart(t *testing.T, names ...string) time.Time {
	t.Helper()
	old := map[string]int{}
	for _, n := range names {
		old[n] = sys.PID(n)
		require.NotZero(t, old[n], "%s runs", n)
		require.NoError(t, sys.Kill(n))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, n := range names {
		require.Eventually(t, func() bool { p := sys.PID(n); return p != 0 && p != old[n] }, time.Minute, 20*time.Millisecond, "%s restarted", n)
		require.NoError(t, sys.WaitReady(ctx, n), "%s ready again", n)
	}
	// An app is alive once it answers /healthz (what the launcher and
	// daprd probe), ready once its own start-up work is done (/readyz:
	// the catalog's seed).
	for _, n := range names {
		if slices.Contains(apps, n) {
			require.NoError(t, auditor.AwaitReady(context.Background(), time.Minute), "%s ready again", n)
		}
	}
	return time.Now()
}

// chaosSagas is one crash scenario's checkouts and what the checker needs.
type chaosSagas struct {
	users  []user // the last quarter have no wallet: their charges are declined
	mu     sync.Mutex
	orders map[string]sagaPlaced
	books  *shopclient.Audit // the invariant checker, opened before the first checkout
	mark   logMark
	next   int
}

// sagaPlaced is a checkout the scenario placed.
type sagaPlaced struct {
	user    user
	product string
	total   int64
	final   sagaOrder
}

// maxSagasPerShopper keeps a shopper's checkouts of a scenario within what
// its wallet pays for (the starting 1,000.00 buys about 70 of the chaos
// products) and its inbox holds (100 notifications).
const maxSagasPerShopper = 60

// newChaosSagas readies a scenario of up to sagas checkouts: it tops up
// the chaos products' stock to their share of the checkouts (a goods
// receipt each, before the audit opens, so the units are in its books),
// registers enough shoppers, a quarter of them with no wallet, and opens
// the invariant checker.
func newChaosSagas(t *testing.T, sagas int) *chaosSagas {
	t.Helper()
	quarters := max(1, (sagas+4*maxSagasPerShopper-1)/(4*maxSagasPerShopper))
	// burst buys the products in turn, a block of one checkout per shopper
	// each: a product's share is a quarter, give or take a block.
	restock(t, int64(sagas/len(chaosProducts)+4*quarters+1))
	names := make([]string, 3*quarters)
	for i := range names {
		names[i] = fmt.Sprintf("Chaos%c", 'A'+i)
	}
	sc := newScenario(t, names...)
	users := sc.users
	for range quarters {
		ghostID := uuid.NewString()
		users = append(users, user{ID: ghostID, Name: "Ghost", Token: signedToken(t, ghostID)})
	}
	return &chaosSagas{users: users, orders: map[string]sagaPlaced{}, books: sc.audit, mark: markLog(t)}
}

// restock tops up each chaos product to at least units available, by a
// goods receipt of the difference.
func restock(t *testing.T, units int64) {
	t.Helper()
	stock, err := auditor.Stock(context.Background())
	require.NoError(t, err)
	for _, p := range chaosProducts {
		if short := units - stock[p].Available; short > 0 {
			_, err := auditor.Receive(context.Background(), p, uuid.NewString(), short)
			require.NoError(t, err, "receive %d units of %s", short, p)
		}
	}
}

// burst starts n checkouts at once, each retried with its key until the
// API accepts it, and returns a function that waits for them and gives
// their order ids.
func (r *chaosSagas) burst(t *testing.T, n int) func() []string {
	t.Helper()
	type result struct {
		id  string
		err error
	}
	results := make(chan result, n)
	for range n {
		u := r.users[r.next%len(r.users)]
		product := chaosProducts[(r.next/len(r.users))%len(chaosProducts)]
		r.next++
		go func() {
			o, err := placeUntilAccepted(u, uuid.NewString(), orderBody(product, 1))
			if err == nil {
				r.mu.Lock()
				r.orders[o.ID] = sagaPlaced{user: u, product: product, total: o.TotalCents}
				r.mu.Unlock()
			}
			results <- result{o.ID, err}
		}()
	}
	return func() []string {
		var ids []string
		for range n {
			res := <-results
			require.NoError(t, res.err)
			ids = append(ids, res.id)
		}
		return ids
	}
}

// placeUntilAccepted posts an order with the same idempotency key until
// the API accepts it: a 503 (a dependency down), a 409 (the first attempt
// still in flight) or a transport error is retried, as the API asks of a
// client; anything else is an error.
func placeUntilAccepted(u user, key, body string) (order, error) {
	deadline := time.Now().Add(sagaSettleBound)
	for {
		resp, err := shop.Do(context.Background(), shopclient.Request{Method: http.MethodPost, Path: "/api/v1/orders",
			Token: u.Token, Body: body, Header: map[string]string{"Idempotency-Key": key}})
		switch {
		case err == nil && (resp.Status == http.StatusAccepted || resp.Status == http.StatusOK):
			var o order
			return o, json.Unmarshal(resp.Body, &o)
		case err == nil && resp.Status != http.StatusServiceUnavailable && resp.Status != http.StatusConflict && resp.Status != http.StatusBadGateway:
			return order{}, fmt.Errorf("place order: %d %s", resp.Status, resp.Body)
		}
		if time.Now().After(deadline) {
			return order{}, fmt.Errorf("place order: still %d %s (%v) after %s", resp.Status, resp.Body, err, sagaSettleBound)
		}
		<-time.After(100 * time.Millisecond) // a client's pause before it retries
	}
}

// awaitSettled waits until every order of ids has ended (completed or
// cancelled), for at most sagaSettleBound, and returns how long after
// from the last one did. An order still running then is left for the
// audit to report.
func (r *chaosSagas) awaitSettled(t *testing.T, ids []string, from time.Time) time.Duration {
	t.Helper()
	pending := slices.Clone(ids)
	deadline := from.Add(sagaSettleBound)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for len(pending) > 0 && time.Now().Before(deadline) {
		pending = slices.DeleteFunc(pending, func(id string) bool {
			r.mu.Lock()
			p := r.orders[id]
			r.mu.Unlock()
			o, err := shop.Order(context.Background(), p.user.Token, id)
			if err != nil || (o.Status != "completed" && o.Status != "cancelled") {
				return false
			}
			p.final = o
			r.mu.Lock()
			r.orders[id] = p
			r.mu.Unlock()
			return true
		})
		if len(pending) > 0 {
			<-tick.C
		}
	}
	return time.Since(from)
}

// reasons tallies why the scenario's cancelled orders were cancelled.
func (r *chaosSagas) reasons() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := map[string]int{}
	for _, p := range r.orders {
		if p.final.Status == "cancelled" {
			n[p.final.Reason]++
		}
	}
	var out []string
	for _, reason := range slices.Sorted(maps.Keys(n)) {
		out = append(out, fmt.Sprintf("%d %q", n[reason], reason))
	}
	return strings.Join(out, ", ")
}

// sagaAudit is what the checker found.
type sagaAudit struct {
	violations           []string
	dupEffects           int
	replays              int
	completed, cancelled int
}

func (a *sagaAudit) violate(format string, args ...any) {
	a.violations = append(a.violations, fmt.Sprintf(format, args...))
}

// audit checks the invariants over every checkout of the scenario, once
// all have had their time to end, by the shop's invariant checker
// (shopclient.Audit: no unit made or lost, no reservation held, each
// completed order charged its total once and no cancelled one paid, the
// units sold and each wallet's loss exactly its completed orders; the
// user with no wallet completed nothing), and more:
//   - every saga ended within its bound, completed or cancelled;
//   - each ended order's notification reached its user's inbox exactly
//     once (twice is a duplicate effect).
//
// Duplicate effects are the units sold and the wallets charged beyond the
// completed orders, and the notifications sent twice. Duplicate
// executions are the participants' barrier replays of the scenario's
// orders (the barrier made each a no-op).
func (r *chaosSagas) audit(t *testing.T) sagaAudit {
	t.Helper()
	var a sagaAudit
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, p := range r.orders {
		if !p.final.Final() {
			a.violate("order %s did not end within %s of its fault: %q, steps %+v", id, sagaSettleBound, p.final.Status, p.final.Steps)
			r.books.Unknown(1, p.total) // what it did is not known yet
			continue
		}
		r.books.Placed(p.user.Token, p.final)
	}
	v := r.books.Check(context.Background(), time.Minute)
	require.NoError(t, v.Err)
	a.violations = append(a.violations, v.Problems...)
	a.dupEffects, a.completed, a.cancelled = v.Duplicates, v.Completed, v.Cancelled
	a.dupEffects += r.auditNotices(t, &a)
	for _, e := range logEntries(t, r.mark, "barrier op replayed") {
		if _, ok := r.orders[e.str("gid")]; ok {
			a.replays++
		}
	}
	return a
}

// auditNotices waits (bounded) until every ended order's notification is in
// its user's inbox, and returns how many orders' notifications arrived
// more than once; one that never arrives is a violation.
func (r *chaosSagas) auditNotices(t *testing.T, a *sagaAudit) int {
	t.Helper()
	var counts map[string]int
	ok := assert.Eventually(t, func() bool {
		counts = map[string]int{}
		for _, u := range r.users {
			items, err := shop.Inbox(context.Background(), u.Token)
			if err != nil {
				return false
			}
			for _, n := range items {
				for id := range r.orders {
					if strings.Contains(n.Message, id) {
						counts[id]++
					}
				}
			}
		}
		for id, p := range r.orders {
			if p.final.Status != "" && counts[id] == 0 {
				return false
			}
		}
		return true
	}, time.Minute, 200*time.Millisecond)
	dups := 0
	for id, p := range r.orders {
		switch {
		case counts[id] > 1:
			a.violate("order %s notified %d times", id, counts[id])
			dups++
		case counts[id] == 0 && p.final.Status != "":
			a.violate("order %s (%s) never notified", id, p.final.Status)
		}
	}
	if !ok {
		t.Logf("notifications still missing after a minute")
	}
	return dups
}
