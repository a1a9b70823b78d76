package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
// checkout; together they hold enough units for the full counts.
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
	iterations, perIteration := chaosCount(1, 6), chaosCount(8, 16)
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			run := newChaosSagas(t)
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
			t.Logf("%d sagas (%d completed, %d cancelled), %d duplicate executions, max settle %s",
				len(run.orders), a.completed, a.cancelled, a.replays, maxSettle.Round(time.Millisecond))
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
			require.NoError(t, awaitReady(sys, time.Minute), "%s ready again", n)
		}
	}
	return time.Now()
}

// chaosSagas is one crash scenario's checkouts and what the checker needs.
type chaosSagas struct {
	users          []user // the last has no wallet: its charges are declined
	mu             sync.Mutex
	orders         map[string]sagaPlaced
	stockBefore    map[string]stock
	merchantBefore int64
	mark           logMark
	next           int
}

// sagaPlaced is a checkout the scenario placed.
type sagaPlaced struct {
	user    user
	product string
	total   int64
	final   sagaOrder
}

func newChaosSagas(t *testing.T) *chaosSagas {
	t.Helper()
	sc := newScenario(t, "ChaosA", "ChaosB", "ChaosC")
	ghostID := uuid.NewString()
	ghost := user{ID: ghostID, Name: "Ghost", Token: signedToken(t, ghostID)}
	return &chaosSagas{
		users: append(sc.users, ghost), orders: map[string]sagaPlaced{},
		stockBefore: readStock(t), merchantBefore: sc.merchantBefore, mark: markLog(t),
	}
}

func (r *chaosSagas) hasWallet(u user) bool { return u.ID != r.users[len(r.users)-1].ID }

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
	base := gatewayURL(t)
	for range n {
		u := r.users[r.next%len(r.users)]
		product := chaosProducts[(r.next/len(r.users))%len(chaosProducts)]
		r.next++
		go func() {
			o, err := placeUntilAccepted(base, u, uuid.NewString(), orderBody(product, 1))
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
func placeUntilAccepted(base string, u user, key, body string) (order, error) {
	deadline := time.Now().Add(sagaSettleBound)
	for {
		req, err := http.NewRequest(http.MethodPost, base+"/api/v1/orders", strings.NewReader(body))
		if err != nil {
			return order{}, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+u.Token)
		req.Header.Set("Idempotency-Key", key)
		resp, err := client.Do(req)
		var status int
		var b []byte
		if err == nil {
			status = resp.StatusCode
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		switch {
		case err == nil && (status == http.StatusAccepted || status == http.StatusOK):
			var o order
			return o, json.Unmarshal(b, &o)
		case err == nil && status != http.StatusServiceUnavailable && status != http.StatusConflict && status != http.StatusBadGateway:
			return order{}, fmt.Errorf("place order: %d %s", status, b)
		}
		if time.Now().After(deadline) {
			return order{}, fmt.Errorf("place order: still %d %s (%v) after %s", status, b, err, sagaSettleBound)
		}
		<-time.After(100 * time.Millisecond) // a client's pause before it retries
	}
}

// readOrder reads an order as its user, without failing the test: the
// crash scenarios poll through outages.
func readOrder(base string, u user, id string) (sagaOrder, error) {
	var o sagaOrder
	return o, getJSON(base+"/api/v1/orders/"+id, map[string]string{"Authorization": "Bearer " + u.Token}, &o)
}

// awaitSettled waits until every order of ids has ended (completed or
// cancelled), for at most sagaSettleBound, and returns how long after
// from the last one did. An order still running then is left for the
// audit to report.
func (r *chaosSagas) awaitSettled(t *testing.T, ids []string, from time.Time) time.Duration {
	t.Helper()
	base := gatewayURL(t)
	pending := slices.Clone(ids)
	deadline := from.Add(sagaSettleBound)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for len(pending) > 0 && time.Now().Before(deadline) {
		pending = slices.DeleteFunc(pending, func(id string) bool {
			r.mu.Lock()
			p := r.orders[id]
			r.mu.Unlock()
			o, err := readOrder(base, p.user, id)
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
// all have had their time to end:
//   - every saga ended, completed or cancelled (a cancelled one says why);
//   - per product, available + reserved + sold is the initial stock, and
//     no reservation is held; the units sold during the scenario are the
//     units of its completed orders (more is a duplicate effect);
//   - each completed order was charged its total once, each cancelled one
//     not at all; each wallet lost exactly its completed orders' totals
//     (more is a duplicate effect), and the merchant gained their sum; the
//     user with no wallet completed nothing;
//   - each ended order's notification reached its user's inbox exactly
//     once (twice is a duplicate effect).
//
// Duplicate executions are the participants' barrier replays of the
// scenario's orders (the barrier made each a no-op).
func (r *chaosSagas) audit(t *testing.T) sagaAudit {
	t.Helper()
	var a sagaAudit
	r.mu.Lock()
	defer r.mu.Unlock()
	soldUnits := map[string]int64{}
	spent := map[string]int64{}
	var charged int64
	for id, p := range r.orders {
		switch p.final.Status {
		case "completed":
			a.completed++
			soldUnits[p.product]++
			spent[p.user.ID] += p.total
			charged += p.total
			if !r.hasWallet(p.user) {
				a.violate("order %s of the user with no wallet completed", id)
			}
		case "cancelled":
			a.cancelled++
			if p.final.Reason == "" {
				a.violate("cancelled order %s says no reason", id)
			}
		default:
			a.violate("order %s did not end within %s of its fault: %q, steps %+v", id, sagaSettleBound, p.final.Status, p.final.Steps)
			continue
		}
		status, b := callApp(t, "payments", http.MethodGet, "/charges/"+id, "")
		var ch struct {
			AmountCents int64  `json:"amount_cents"`
			Status      string `json:"status"`
		}
		if status == http.StatusOK {
			require.NoError(t, json.Unmarshal(b, &ch))
		} else if status != http.StatusNotFound {
			a.violate("charge of %s: %d %s", id, status, b)
		}
		switch {
		case p.final.Status == "completed" && (ch.Status != "charged" || ch.AmountCents != p.total):
			a.violate("completed order %s: charge %+v, want %d charged", id, ch, p.total)
		case p.final.Status == "cancelled" && ch.Status == "charged":
			a.violate("cancelled order %s is charged", id)
		}
	}
	after := readStock(t)
	for id, s := range after {
		if s.Available+s.Reserved+s.Sold != initialStock[id] || s.Available < 0 {
			a.violate("units of %s not conserved: %+v, initial %d", id, s, initialStock[id])
		}
		if extra := s.Sold - r.stockBefore[id].Sold - soldUnits[id]; extra != 0 {
			a.violate("%s: %d units sold during the scenario, %d completed", id, s.Sold-r.stockBefore[id].Sold, soldUnits[id])
			if extra > 0 {
				a.dupEffects += int(extra)
			}
		}
	}
	status, b := callApp(t, "catalog", http.MethodGet, "/reservations?status=reserved", "")
	require.Equal(t, http.StatusOK, status, "%s", b)
	var held struct {
		Items []json.RawMessage `json:"items"`
	}
	require.NoError(t, json.Unmarshal(b, &held))
	if len(held.Items) > 0 {
		a.violate("%d reservations still held: %s", len(held.Items), b)
	}
	for _, u := range r.users {
		if !r.hasWallet(u) {
			continue
		}
		want := int64(100000) - spent[u.ID]
		if got := walletBalance(t, u); got != want {
			a.violate("wallet of %s: %d, want %d", u.ID, got, want)
			if got < want {
				a.dupEffects++
			}
		}
	}
	if got := merchantBalance(t) - r.merchantBefore; got != charged {
		a.violate("merchant gained %d, completed orders cost %d", got, charged)
	}
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
	base := gatewayURL(t)
	var counts map[string]int
	ok := assert.Eventually(t, func() bool {
		counts = map[string]int{}
		for _, u := range r.users {
			items, err := readInbox(base, u.Token)
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

// readInbox reads a user's inbox through the gateway without failing the
// test.
func readInbox(base, token string) ([]notification, error) {
	var out struct {
		Items []notification `json:"items"`
	}
	err := getJSON(base+"/api/v1/notifications", map[string]string{"Authorization": "Bearer " + token}, &out)
	return out.Items, err
}
