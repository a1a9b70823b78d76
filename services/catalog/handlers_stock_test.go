package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/faults"
	"github.com/daprshop/daprshop/internal/state"
)

// The read routes of the stock participant (held reservations, stock), and
// how its routes wait for the seed and keep the product cache fresh.

func TestListHeldReservations(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faults.Faults{})
	orders := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	for _, o := range orders {
		require.Equal(t, http.StatusOK, h.post("/reservations/"+o+"/try", `{"items":[{"product_id":"mug","quantity":1}]}`).Code)
	}
	require.Equal(t, http.StatusOK, h.post("/reservations/"+orders[1]+"/confirm", "").Code)

	got := h.held(t)
	want := []string{orders[0], orders[2]}
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.OrderID)
	}
	assert.Equal(t, want, ids, "the held ones, sorted by order id")
	h.assertInvariant(t)

	for _, q := range []string{"", "?status=confirmed", "?status=RESERVED"} {
		w := h.get("/reservations" + q)
		require.Equal(t, http.StatusBadRequest, w.Code, "%q: %s", q, w.Body.String())
		assertProblem(t, http.StatusBadRequest, "status", w)
	}
}

func TestListStock(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faults.Faults{})
	require.Equal(t, http.StatusOK, h.post("/reservations/"+uuid.NewString()+"/try", `{"items":[{"product_id":"mug","quantity":3},{"product_id":"beans-1kg","quantity":1}]}`).Code)
	w := h.get("/stock")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"items":[
		{"id":"beans-1kg","available":2,"reserved":2,"sold":2},
		{"id":"kettle","available":0,"reserved":0,"sold":0},
		{"id":"mug","available":5,"reserved":3,"sold":0}]}`, w.Body.String())

	h.state.Fail(storeDown)
	w = h.get("/stock")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
}

func TestReservationRoutesWaitForTheSeed(t *testing.T) {
	t.Parallel()
	records := state.NewMemoryStore()
	products := newStateProductStore(records)
	require.NoError(t, products.Seed(context.Background(), testProducts)) // stored, but the service has not seeded
	svc := newService(products)
	res := newReservations(records, products, func(...string) {}, time.Now, reservationTTL, svc.requireSeeded)
	h := &harness{state: records, res: res, handler: newServer(discard, svc, res, faults.Faults{}, ready, testToken)}
	assert.Equal(t, http.StatusServiceUnavailable, h.post("/reservations/"+uuid.NewString()+"/try", mug2).Code)
	assert.Equal(t, http.StatusServiceUnavailable, h.get("/stock").Code)
}

// A stock change made by a reservation drops the product from the read
// cache: browsing sees it at once, not after the cache's TTL.
func TestReservationsDropCachedProducts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faults.Faults{})
	available := func() int64 {
		w := h.get("/products/mug")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var p productResponse
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
		return p.Available
	}
	sold, released := uuid.NewString(), uuid.NewString()
	steps := []struct {
		target, body string
		want         int64
	}{
		{"", "", 8}, // cached from here on
		{"/reservations/" + sold + "/try", mug2, 6},
		{"/reservations/" + released + "/try", mug2, 4},
		{"/reservations/" + sold + "/confirm", "", 4},
		{"/reservations/" + released + "/cancel", "", 6},
	}
	for _, s := range steps {
		if s.target != "" {
			require.Equal(t, http.StatusOK, h.post(s.target, s.body).Code, s.target)
		}
		assert.Equal(t, s.want, available(), s.target)
	}
	order := uuid.NewString()
	require.Equal(t, http.StatusOK, h.post("/reservations/"+order+"/try", mug2).Code)
	assert.Equal(t, int64(4), available())
	h.clock.Advance(reservationTTL)
	_, err := h.res.Sweep(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(6), available(), "an expiry drops it too")
}
