package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The checkout saga end to end: every scenario ends with the invariant
// checker (invariants_test.go, on shopclient.Audit).

func orderBody(lines ...any) string {
	b := `{"items":[`
	for i := 0; i < len(lines); i += 2 {
		if i > 0 {
			b += ","
		}
		b += fmt.Sprintf(`{"product_id":%q,"quantity":%d}`, lines[i], lines[i+1])
	}
	return b + `]}`
}

// place places an order and records it in the scenario.
func (sc *scenario) place(t *testing.T, u user, body string) string {
	t.Helper()
	status, b := placeOrder(t, u, uuid.NewString(), body)
	require.Equal(t, http.StatusAccepted, status, "%s", b)
	var o order
	require.NoError(t, json.Unmarshal(b, &o))
	sc.orders[o.ID] = u
	return o.ID
}

// awaitStep waits until the order shows a saga step.
func awaitStep(t *testing.T, u user, orderID, name, status string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, b := getAs(t, u, "/api/v1/orders/"+orderID)
		var o sagaOrder
		if assert.Equal(c, http.StatusOK, code) && assert.NoError(c, json.Unmarshal(b, &o)) {
			assert.True(c, o.Has(name, status), "steps so far: %+v", o.Steps)
		}
	}, 60*time.Second, 100*time.Millisecond)
}

// workflowStatus reads the saga's instance through the orders sidecar's
// workflow API.
func workflowStatus(t require.TestingT, orderID string) string {
	a, ok := sys.App("orders")
	require.True(t, ok)
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/v1.0/workflows/dapr/%s", a.HTTPPort, orderID), nil)
	require.NoError(t, err)
	req.Header.Set("dapr-api-token", sys.Env()["DAPR_API_TOKEN"])
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b json.RawMessage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&b))
	return string(b)
}

func stopApp(t *testing.T, name string) {
	t.Helper()
	require.NoError(t, sys.StopProcess(name))
	t.Cleanup(func() { startApp(t, name) }) // never leave it down for the next test
}

func startApp(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, sys.StartProcess(ctx, name))
}

func TestSagaHappyPath(t *testing.T) {
	skipShort(t)
	sc := newScenario(t, "Happy")
	u := sc.users[0]
	id := sc.place(t, u, orderBody("ceramic-mug-350ml", 2, "paper-filters-100", 1))
	o := awaitFinal(t, u, id, time.Minute)
	assert.Equal(t, "completed", o.Status)
	for _, step := range []string{"reserve", "charge", "confirm"} {
		assert.True(t, o.Has(step, "done"), "step %s done: %+v", step, o.Steps)
	}
	assert.Equal(t, int64(100000-2990), walletBalance(t, u))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		items := inbox(c, u.Token)
		assert.True(c, slices.ContainsFunc(items, func(n notification) bool { return n.Kind == "order_completed" }), "%+v", items)
	}, 30*time.Second, 100*time.Millisecond, "order.completed reached the user's inbox")
	sc.check(t)
}

func TestSagaOutOfStock(t *testing.T) {
	skipShort(t)
	sc := newScenario(t, "Unlucky")
	id := sc.place(t, sc.users[0], orderBody("paper-filters-100", 1, "limited-edition-geisha-250g", 1))
	o := awaitFinal(t, sc.users[0], id, time.Minute)
	assert.Equal(t, "cancelled", o.Status)
	assert.Contains(t, o.Reason, "stock")
	assert.True(t, o.Has("reserve", "failed"), "%+v", o.Steps)
	assert.False(t, o.Has("charge", "done"))
	sc.check(t)
}

func TestSagaDeclinedPayment(t *testing.T) {
	skipShort(t)
	sc := newScenario(t, "Broke")
	id := sc.place(t, sc.users[0], orderBody("espresso-machine", 1)) // 129900 > 100000
	o := awaitFinal(t, sc.users[0], id, time.Minute)
	assert.Equal(t, "cancelled", o.Status)
	assert.Contains(t, o.Reason, "declined")
	assert.True(t, o.Has("charge", "failed"), "%+v", o.Steps)
	assert.True(t, o.Has("release", "done"), "the stock was released: %+v", o.Steps)
	sc.check(t)
}

func TestSagaSurvivesPaymentsDownForAWhile(t *testing.T) {
	skipShort(t)
	sc := newScenario(t, "Patient")
	u := sc.users[0]
	stopApp(t, "payments")
	id := sc.place(t, u, orderBody("filter-coffee-500g", 1))
	awaitStep(t, u, id, "reserve", "done")
	startApp(t, "payments")
	o := awaitFinal(t, u, id, time.Minute)
	assert.Equal(t, "completed", o.Status, "reason: %s", o.Reason)
	sc.check(t)
}

func TestSagaCompensatesWhenPaymentsStaysDown(t *testing.T) {
	skipShort(t)
	sc := newScenario(t, "Stranded")
	u := sc.users[0]
	stopApp(t, "payments")
	id := sc.place(t, u, orderBody("filter-coffee-500g", 1))
	began := time.Now()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Contains(c, workflowStatus(c, id), "compensating")
	}, 2*time.Minute, 250*time.Millisecond, "the saga gives up on payments")
	t.Logf("gave up on payments after %s", time.Since(began).Round(100*time.Millisecond))
	startApp(t, "payments") // the refund needs payments back; the saga waits for it
	o := awaitFinal(t, u, id, time.Minute)
	assert.Equal(t, "cancelled", o.Status)
	assert.Contains(t, o.Reason, "payment service could not be reached")
	sc.check(t)
}

func TestSagaUserCancelsWhilePending(t *testing.T) {
	skipShort(t)
	sc := newScenario(t, "Fickle")
	u := sc.users[0]
	stopApp(t, "payments") // holds the saga at its charge step
	id := sc.place(t, u, orderBody("travel-tumbler", 1))
	awaitStep(t, u, id, "reserve", "done")
	status, _, b := do(t, http.MethodDelete, gatewayURL(t)+"/api/v1/orders/"+id, "", nil, map[string]string{"Authorization": "Bearer " + u.Token})
	require.Equal(t, http.StatusAccepted, status, "%s", b)
	startApp(t, "payments")
	o := awaitFinal(t, u, id, time.Minute)
	assert.Equal(t, "cancelled", o.Status)
	assert.Equal(t, "cancelled at your request", o.Reason)
	status, _, _ = do(t, http.MethodDelete, gatewayURL(t)+"/api/v1/orders/"+id, "", nil, map[string]string{"Authorization": "Bearer " + u.Token})
	assert.Equal(t, http.StatusOK, status, "cancelling again changes nothing")
	sc.check(t)
}

func TestSagaOneChargeForTenConcurrentRetries(t *testing.T) {
	skipShort(t)
	sc := newScenario(t, "Impatient")
	u := sc.users[0]
	key, body := uuid.NewString(), orderBody("french-press-1l", 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]bool{}
	for range 10 {
		wg.Go(func() {
			status, b := placeOrder(t, u, key, body)
			if status == http.StatusAccepted {
				var o order
				if assert.NoError(t, json.Unmarshal(b, &o)) {
					mu.Lock()
					ids[o.ID] = true
					mu.Unlock()
				}
				return
			}
			assert.Equal(t, http.StatusConflict, status, "%s", b)
		})
	}
	wg.Wait()
	require.Len(t, ids, 1, "one order")
	for id := range ids {
		sc.orders[id] = u
		assert.Equal(t, "completed", awaitFinal(t, u, id, time.Minute).Status)
	}
	assert.Len(t, myOrders(t, u), 1)
	assert.Equal(t, int64(100000-3490), walletBalance(t, u), "one charge")
	sc.check(t)
}

// 200 checkouts at once for a product with fewer units: exactly as many
// complete as there were units; the rest are cancelled and nothing leaks.
func TestSagaTwoHundredCheckoutsForTwentyUnits(t *testing.T) {
	skipShort(t)
	const product, perUser, users = "gooseneck-kettle", 10, 20
	units := readStock(t)[product].Available
	require.Positive(t, units)
	names := make([]string, users)
	for i := range names {
		names[i] = fmt.Sprintf("Rush%d", i)
	}
	sc := newScenario(t, names...)
	var wg sync.WaitGroup
	var mu sync.Mutex
	began := time.Now()
	for _, u := range sc.users {
		for range perUser {
			wg.Go(func() {
				// A client retries a 503 (store busy) or 409 (in flight)
				// with the same key, as the API asks.
				key := uuid.NewString()
				var b []byte
				assert.EventuallyWithT(t, func(c *assert.CollectT) {
					var status int
					status, b = placeOrder(t, u, key, orderBody(product, 1))
					assert.Equal(c, http.StatusAccepted, status, "%s", b)
				}, 2*time.Minute, 200*time.Millisecond)
				var o order
				if assert.NoError(t, json.Unmarshal(b, &o)) {
					mu.Lock()
					sc.orders[o.ID] = u
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	completed := 0
	for id, u := range sc.orders {
		if awaitFinal(t, u, id, 3*time.Minute).Status == "completed" {
			completed++
		}
	}
	t.Logf("%d checkouts for %d units: %d completed, all ended in %s", len(sc.orders), units, completed, time.Since(began).Round(100*time.Millisecond))
	assert.Len(t, sc.orders, users*perUser)
	assert.Equal(t, int(min(units, users*perUser)), completed)
	assert.Zero(t, readStock(t)[product].Available)
	sc.check(t)
}

// kill -9 of orders and its sidecar in the middle of a saga: the saga
// resumes from its durable history when they are back and charges once.
func TestSagaSurvivesKillOfOrdersAndItsSidecar(t *testing.T) {
	skipShort(t)
	sc := newScenario(t, "Crash")
	u := sc.users[0]
	stopApp(t, "payments")
	id := sc.place(t, u, orderBody("pour-over-dripper", 1))
	awaitStep(t, u, id, "reserve", "done")
	for _, name := range []string{"orders", "orders.daprd"} {
		old := sys.PID(name)
		require.NoError(t, sys.Kill(name))
		require.Eventually(t, func() bool { return sys.PID(name) != old && sys.PID(name) != 0 }, 30*time.Second, 50*time.Millisecond, "%s restarted", name)
	}
	startApp(t, "payments")
	for _, name := range []string{"orders", "orders.daprd"} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		require.NoError(t, sys.WaitReady(ctx, name))
		cancel()
	}
	o := awaitFinal(t, u, id, 2*time.Minute)
	assert.Equal(t, "completed", o.Status, "reason: %s", o.Reason)
	assert.Equal(t, int64(100000-2190), walletBalance(t, u), "charged once")
	sc.check(t)
}
