package tests

import (
	"bytes"
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

	"github.com/daprshop/daprshop/internal/shopclient"
)

// requireRecommendations skips where the launcher skipped recommendations
// (no Node.js 20 here; in CI the suite does not start without it).
func requireRecommendations(t *testing.T) {
	t.Helper()
	skipShort(t)
	if !slices.Contains(apps, "recommendations") {
		t.Skip("recommendations is not running: the launcher skipped it (no Node.js 20 or later); its log says why")
	}
}

// completedOrderEvent is an order.completed event as orders publishes it
// (contracts/events/order.completed.schema.json), for the given products.
func completedOrderEvent(id string, products ...string) map[string]any {
	var items []map[string]any
	for _, p := range products {
		items = append(items, map[string]any{"product_id": p, "quantity": 1})
	}
	return map[string]any{
		"specversion": "1.0", "id": id, "source": "e2e", "type": "com.daprshop.order.completed",
		"datacontenttype": "application/json",
		"data": map[string]any{"order_id": uuid.NewString(), "user_id": uuid.NewString(), "status": "completed",
			"total_cents": 100 * len(products), "items": items},
	}
}

// recommended reads a product's recommendations through the gateway as a
// map of product → orders.
func recommended(c require.TestingT, productID string) map[string]int {
	recs, err := shop.Recommendations(context.Background(), productID, 20)
	require.NoError(c, err)
	got := map[string]int{}
	for _, r := range recs {
		got[r.ProductID] = r.Orders
	}
	return got
}

// recommendationsHandled reads recommendations' count of order.completed
// deliveries with outcome (the Go apps' metric, in their label order).
func recommendationsHandled(c require.TestingT, outcome string) float64 {
	a, _ := sys.App("recommendations")
	v, err := readMetric(a.Env["ADMIN_PORT"], fmt.Sprintf(`daprshop_events_handled_total{outcome=%q,topic="order.completed"} `, outcome))
	require.NoError(c, err)
	return v
}

// TestRecommendationsFromCheckouts buys products together through the
// gateway; the completed orders reach the TypeScript service through its
// own sidecar, and the gateway serves what it counted.
func TestRecommendationsFromCheckouts(t *testing.T) {
	requireRecommendations(t)
	sc := newScenario(t, "Recs")
	u := sc.users[0]
	const a, b, c = "pour-over-dripper", "paper-filters-100", "filter-coffee-500g"
	before := recommended(t, a)
	for _, other := range []string{b, c} {
		id := sc.place(t, u, orderBody(a, 1, other, 1))
		require.Equal(t, "completed", awaitFinal(t, u, id, time.Minute).Status)
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		got := recommended(ct, a)
		// Other tests buy these too: at least this test's orders count.
		assert.GreaterOrEqual(ct, got[b], before[b]+1, "%s bought with %s", b, a)
		assert.GreaterOrEqual(ct, got[c], before[c]+1, "%s bought with %s", c, a)
	}, 30*time.Second, 100*time.Millisecond)
	assert.NotContains(t, recommended(t, a), a, "a product is not its own recommendation")
	sc.check(t)
}

// deliver posts an event straight to recommendations' subscription route
// with the app token, as its sidecar delivers one, and returns Dapr's
// status from the answer. (A publish twice cannot test a redelivery: the
// local profile's broker drops a second message with the same id.)
func deliver(t *testing.T, event map[string]any) string {
	t.Helper()
	b, err := json.Marshal(event)
	require.NoError(t, err)
	status, _, body := do(t, http.MethodPost, appURL(t, "recommendations")+"/events/order-completed", "application/cloudevents+json",
		bytes.NewReader(b), map[string]string{"dapr-api-token": sys.Env()["APP_API_TOKEN"]})
	require.Equal(t, http.StatusOK, status, "%s", body)
	var answer struct{ Status string }
	require.NoError(t, json.Unmarshal(body, &answer))
	return answer.Status
}

// TestRecommendationsCountEachEventOnce: an order.completed published as
// orders publishes it is counted; the same event delivered again is found
// applied (its marker and the counts were one transaction of the real
// store); and orders racing on one product all count (ETags).
func TestRecommendationsCountEachEventOnce(t *testing.T) {
	requireRecommendations(t)
	x, y, z := "e2e-x-"+uuid.NewString()[:8], "e2e-y-"+uuid.NewString()[:8], "e2e-z-"+uuid.NewString()[:8]
	first := completedOrderEvent("e2e-"+uuid.NewString(), x, y)
	publish(t, "orders", "order.completed", first)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, map[string]int{y: 1}, recommended(c, x))
	}, 60*time.Second, 100*time.Millisecond)
	dupBefore := recommendationsHandled(t, "duplicate")
	assert.Equal(t, "SUCCESS", deliver(t, first), "a redelivery is acknowledged")
	assert.Equal(t, dupBefore+1, recommendationsHandled(t, "duplicate"))
	assert.Equal(t, map[string]int{y: 1}, recommended(t, x), "and changes nothing")

	// Eight orders with x at once, straight to the app: each reads x's
	// record, and all but one lose the race at least once and read again.
	const n = 8
	answers := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { answers <- deliver(t, completedOrderEvent("e2e-"+uuid.NewString(), x, z)) })
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		assert.Equal(t, "SUCCESS", a)
	}
	assert.Equal(t, map[string]int{z: n, y: 1}, recommended(t, x))
	assert.Equal(t, map[string]int{x: n}, recommended(t, z))
	recs, err := shop.Recommendations(context.Background(), x, 1)
	require.NoError(t, err)
	assert.Equal(t, []shopclient.Recommendation{{ProductID: z, Orders: n}}, recs, "most often first, cut at the limit")
}

// TestRecommendationsDeadLetterPoison publishes an order.completed that
// breaks the schema: recommendations drops it, Dapr moves it to its
// dead-letter topic, and notifications, watching every one, counts it.
func TestRecommendationsDeadLetterPoison(t *testing.T) {
	requireRecommendations(t)
	const dlq = "order.completed.recommendations.deadletter"
	before := deadLetterCount(t, dlq)
	ev := completedOrderEvent("poison-"+uuid.NewString(), "a", "b")
	ev["data"].(map[string]any)["items"] = []map[string]any{{"product_id": "Not An Id", "quantity": 0}}
	publish(t, "orders", "order.completed", ev)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, before+1, deadLetterCountC(c, dlq))
	}, 90*time.Second, 100*time.Millisecond)
}

// TestRecommendationsRefuseBadInput: the TypeScript service's problem
// answers come through the gateway as they are.
func TestRecommendationsRefuseBadInput(t *testing.T) {
	requireRecommendations(t)
	for _, tt := range []struct{ path, field string }{
		{"/api/v1/products/Not_An_Id/recommendations", "id"},
		{"/api/v1/products/kettle/recommendations?limit=0", "limit"},
		{"/api/v1/products/kettle/recommendations?limit=21", "limit"},
	} {
		resp, err := shop.Do(context.Background(), shopclient.Request{Method: http.MethodGet, Path: tt.path})
		require.NoError(t, err)
		assert.Equal(t, http.StatusBadRequest, resp.Status, "%s: %s", tt.path, resp.Body)
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), tt.path)
		assert.Contains(t, string(resp.Body), fmt.Sprintf(`"field":%q`, tt.field), tt.path)
	}
}
