package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/shopclient"
)

// product is one product of the public listing (the shop client's).
type product = shopclient.Product

// order is an order as the API shows it (the shop client's).
type order = shopclient.Order

// inStock returns two products of the catalog with stock, read through the
// gateway.
func inStock(t *testing.T) (product, product) {
	t.Helper()
	products, err := shop.Products(context.Background())
	require.NoError(t, err)
	var found []product
	for _, p := range products {
		if p.Available >= 5 {
			found = append(found, p)
		}
	}
	require.GreaterOrEqual(t, len(found), 2, "the seeded catalog has products in stock")
	return found[0], found[1]
}

// placeOrder posts an order through the gateway.
func placeOrder(t *testing.T, u user, key, body string) (int, []byte) {
	t.Helper()
	header := map[string]string{"Authorization": "Bearer " + u.Token}
	if key != "" {
		header["Idempotency-Key"] = key
	}
	status, _, b := do(t, http.MethodPost, gatewayURL(t)+"/api/v1/orders", "application/json", strings.NewReader(body), header)
	return status, b
}

func getAs(t *testing.T, u user, path string) (int, []byte) {
	t.Helper()
	resp, err := shop.Do(context.Background(), shopclient.Request{Method: http.MethodGet, Path: path, Token: u.Token})
	require.NoError(t, err)
	return resp.Status, resp.Body
}

func myOrders(t *testing.T, u user) []order {
	t.Helper()
	status, b := getAs(t, u, "/api/v1/orders?limit=100")
	require.Equal(t, http.StatusOK, status, "%s", b)
	var page struct {
		Items []order `json:"items"`
	}
	require.NoError(t, json.Unmarshal(b, &page))
	return page.Items
}

// myOrdersAtLeast waits until u's list holds at least n orders and returns
// it. The list shows an order once its saga has saved it, a moment after
// the 202 (docs/checkout-saga.md, "One creator of the order"); the order
// itself is found by its id at once.
func myOrdersAtLeast(t *testing.T, u user, n int) []order {
	t.Helper()
	var list []order
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		list = myOrders(t, u)
		assert.GreaterOrEqual(c, len(list), n)
	}, 30*time.Second, 20*time.Millisecond, "the list of %s shows %d orders", u.Name, n)
	return list
}

func TestPlaceAnOrderAndReadItBack(t *testing.T) {
	skipShort(t)
	u := registerUser(t, "Shopper")
	a, b := inStock(t)
	body := fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":2},{"product_id":%q,"quantity":1}]}`, a.ID, b.ID)
	status, resp := placeOrder(t, u, uuid.NewString(), body)
	require.Equal(t, http.StatusAccepted, status, "%s", resp)
	var placed order
	require.NoError(t, json.Unmarshal(resp, &placed))
	assert.Equal(t, "pending", placed.Status)
	assert.Equal(t, u.ID, placed.UserID)
	assert.Equal(t, 2*a.PriceCents+b.PriceCents, placed.TotalCents, "priced by the catalog")
	require.Len(t, placed.Items, 2)
	assert.Equal(t, a.Name, placed.Items[0].Name)

	status, got := getAs(t, u, "/api/v1/orders/"+placed.ID)
	require.Equal(t, http.StatusOK, status, "%s", got)
	// The same order, but for what its saga may have done already in the
	// meantime (steps, status): it starts before the 202 is sent.
	withoutProgress := func(b []byte) map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		for _, k := range []string{"steps", "status", "reason", "updated_at"} {
			delete(m, k)
		}
		return m
	}
	assert.Equal(t, withoutProgress(resp), withoutProgress(got))

	second, _ := placeOrder(t, u, uuid.NewString(), fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":1}]}`, b.ID))
	require.Equal(t, http.StatusAccepted, second)
	list := myOrdersAtLeast(t, u, 2)
	require.Len(t, list, 2)
	assert.Equal(t, placed.ID, list[1].ID, "newest first")

	// Paged one at a time, the list ends.
	status, page1 := getAs(t, u, "/api/v1/orders?limit=1")
	require.Equal(t, http.StatusOK, status)
	var p1 struct {
		Items      []order `json:"items"`
		NextCursor string  `json:"next_cursor"`
	}
	require.NoError(t, json.Unmarshal(page1, &p1))
	require.Len(t, p1.Items, 1)
	require.NotEmpty(t, p1.NextCursor)
	status, page2 := getAs(t, u, "/api/v1/orders?limit=1&cursor="+p1.NextCursor)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, string(page2), placed.ID)
	assert.NotContains(t, string(page2), "next_cursor")
}

func TestOrdersAreIdempotentPerKeyAndUser(t *testing.T) {
	skipShort(t)
	ada, bob := registerUser(t, "Ada"), registerUser(t, "Bob")
	a, _ := inStock(t)
	body := fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":1}]}`, a.ID)
	key := uuid.NewString()

	status, first := placeOrder(t, ada, key, body)
	require.Equal(t, http.StatusAccepted, status, "%s", first)
	status, again := placeOrder(t, ada, key, " "+body+"\n")
	assert.Equal(t, http.StatusAccepted, status)
	assert.Equal(t, string(first), string(again), "the same response")

	status, other := placeOrder(t, ada, key, fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":2}]}`, a.ID))
	assert.Equal(t, http.StatusUnprocessableEntity, status, "%s", other)

	status, bobs := placeOrder(t, bob, key, body)
	require.Equal(t, http.StatusAccepted, status, "keys are per user: %s", bobs)
	assert.NotEqual(t, string(first), string(bobs))
	assert.Len(t, myOrdersAtLeast(t, ada, 1), 1)
	assert.Len(t, myOrdersAtLeast(t, bob, 1), 1)
}

// Retries racing each other with one key make one order; each is answered
// with it or told that the first is in flight.
func TestConcurrentRetriesMakeOneOrder(t *testing.T) {
	skipShort(t)
	u := registerUser(t, "Racer")
	a, _ := inStock(t)
	body := fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":1}]}`, a.ID)
	key := uuid.NewString()
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[int][]string{}
	for range 8 {
		wg.Go(func() {
			status, b := placeOrder(t, u, key, body)
			mu.Lock()
			answers[status] = append(answers[status], string(b))
			mu.Unlock()
		})
	}
	wg.Wait()
	orders := myOrdersAtLeast(t, u, 1)
	require.Len(t, orders, 1, "one order: %v", answers)
	for status, bodies := range answers {
		switch status {
		case http.StatusAccepted:
			for _, b := range bodies {
				assert.Contains(t, b, orders[0].ID)
			}
		case http.StatusConflict:
			assert.Contains(t, bodies[0], "still being processed")
		default:
			t.Errorf("unexpected %d: %v", status, bodies)
		}
	}
	assert.NotEmpty(t, answers[http.StatusAccepted])
	t.Logf("8 racing retries: %d accepted, %d told in flight", len(answers[http.StatusAccepted]), len(answers[http.StatusConflict]))
}

func TestPlaceOrderRefusesBadInput(t *testing.T) {
	skipShort(t)
	u := registerUser(t, "Careless")
	a, _ := inStock(t)
	line := func(id string, qty any) string {
		return fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":%v}]}`, id, qty)
	}
	tests := []struct {
		name      string
		key       string
		ctype     string
		body      string
		want      int
		wantField string
	}{
		{"no idempotency key", "", "", line(a.ID, 1), http.StatusBadRequest, "Idempotency-Key"},
		{"not JSON", "k", "text/plain", line(a.ID, 1), http.StatusUnsupportedMediaType, ""},
		{"unknown field", "k", "", `{"items":[{"product_id":"` + a.ID + `","quantity":1}],"total_cents":1}`, http.StatusBadRequest, ""},
		{"wrong type", "k", "", line(a.ID, `"1"`), http.StatusBadRequest, ""},
		{"duplicate key", "k", "", `{"items":[],"items":[]}`, http.StatusBadRequest, ""},
		{"zero quantity", "k", "", line(a.ID, 0), http.StatusBadRequest, "items[0].quantity"},
		{"negative quantity", "k", "", line(a.ID, -1), http.StatusBadRequest, "items[0].quantity"},
		{"absurd quantity", "k", "", line(a.ID, "99999999999999999999"), http.StatusBadRequest, ""},
		{"no lines", "k", "", `{"items":[]}`, http.StatusBadRequest, "items"},
		{"product id of the wrong shape", "k", "", line("DROP TABLE", 1), http.StatusBadRequest, "items[0].product_id"},
		{"unknown product", "k", "", line("no-such-product", 1), http.StatusUnprocessableEntity, "items[0].product_id"},
		{"oversized body", "k", "", `{"items":[` + strings.Repeat(" ", 1<<20) + `]}`, http.StatusRequestEntityTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := map[string]string{"Authorization": "Bearer " + u.Token}
			if tt.key != "" {
				header["Idempotency-Key"] = tt.key + "-" + uuid.NewString()
			}
			ctype := "application/json"
			if tt.ctype != "" {
				ctype = tt.ctype
			}
			status, hdr, b := do(t, http.MethodPost, gatewayURL(t)+"/api/v1/orders", ctype, strings.NewReader(tt.body), header)
			require.Equal(t, tt.want, status, "%s", b)
			assert.Equal(t, "application/problem+json", hdr.Get("Content-Type"))
			var p problem
			require.NoError(t, json.Unmarshal(b, &p))
			assert.NotEmpty(t, p.Detail)
			if tt.wantField != "" && assert.NotEmpty(t, p.Errors) {
				assert.Equal(t, tt.wantField, p.Errors[0].Field)
			}
		})
	}
	assert.Empty(t, myOrders(t, u), "no order was made")
}

// Users see their own orders only; another user's order is a 404, exactly
// like one that does not exist.
func TestOrdersAreOnlyTheCallers(t *testing.T) {
	skipShort(t)
	ada, eve := registerUser(t, "Ada"), registerUser(t, "Eve")
	a, _ := inStock(t)
	status, b := placeOrder(t, ada, uuid.NewString(), fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":1}]}`, a.ID))
	require.Equal(t, http.StatusAccepted, status, "%s", b)
	var o order
	require.NoError(t, json.Unmarshal(b, &o))

	status, stolen := getAs(t, eve, "/api/v1/orders/"+o.ID)
	assert.Equal(t, http.StatusNotFound, status)
	status, missing := getAs(t, eve, "/api/v1/orders/"+uuid.NewString())
	assert.Equal(t, http.StatusNotFound, status)
	var p1, p2 problem
	require.NoError(t, json.Unmarshal(stolen, &p1))
	require.NoError(t, json.Unmarshal(missing, &p2))
	assert.Equal(t, p1.Title, p2.Title)
	assert.NotContains(t, string(stolen), ada.ID)
	assert.Empty(t, myOrders(t, eve))

	for _, tt := range []struct{ path string }{{"/api/v1/orders/42"}, {"/api/v1/orders/" + strings.ToUpper(uuid.NewString())}, {"/api/v1/orders?limit=0"}, {"/api/v1/orders?limit=101"}, {"/api/v1/orders?cursor=abc"}} {
		status, b := getAs(t, eve, tt.path)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %s", tt.path, b)
	}
}
