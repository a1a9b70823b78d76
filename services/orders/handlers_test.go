package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/web"
)

const (
	testToken = "token"
	adaID     = "0b6c3f4e-6a8e-4a4b-9a57-3f0c2a8b9d11"
	bobID     = "9b2d7c55-1e0f-4a8b-b6c3-2d4e5f607182"
	oneLine   = `{"items":[{"product_id":"espresso-beans-1kg","quantity":2}]}`
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func ready(context.Context) error { return nil }

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type harness struct {
	store     *memOrders
	catalog   *fakeCatalog
	checkouts *fakeCheckouts
	clock     *clock
	handler   http.Handler
}

func newHarness() *harness {
	h := &harness{store: newMemOrders(), catalog: newFakeCatalog(), checkouts: newFakeCheckouts(), clock: &clock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}}
	var n atomic.Int64
	newID := func() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1)) }
	// The saga's first step, as the workflow engine runs it after a start.
	h.checkouts.save = (&saga{store: h.store}).save
	h.handler = newServer(discard, newService(h.store, h.catalog, h.checkouts, h.clock.Now, newID), ready, testToken)
	return h
}

func (h *harness) do(method, path, key, body string) *httptest.ResponseRecorder {
	return h.doWithin(context.Background(), method, path, key, body)
}

// doWithin is do with the request bound to ctx (a client that may leave).
func (h *harness) doWithin(ctx context.Context, method, path, key, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(body))
	r.Header.Set(web.AppTokenHeader, testToken)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		r.Header.Set(idempotencyHeader, key)
	}
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return w
}

func (h *harness) place(user, key, body string) *httptest.ResponseRecorder {
	return h.do(http.MethodPost, "/users/"+user+"/orders", key, body)
}

func problemOf(t *testing.T, w *httptest.ResponseRecorder) web.Problem {
	t.Helper()
	assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
	var p web.Problem
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p), w.Body.String())
	return p
}

func TestPlaceOrder(t *testing.T) {
	t.Parallel()
	h := newHarness()
	w := h.place(adaID, "k1", `{"items":[{"product_id":"espresso-beans-1kg","quantity":2},{"product_id":"pour-over-kettle","quantity":1}]}`)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	assert.JSONEq(t, `{"id":"00000000-0000-4000-8000-000000000001","user_id":"`+adaID+`","status":"pending",
		"items":[{"product_id":"espresso-beans-1kg","name":"Espresso beans, 1 kg","quantity":2,"price_cents":2450},
		         {"product_id":"pour-over-kettle","name":"Pour-over kettle","quantity":1,"price_cents":5900}],
		"total_cents":10800,"created_at":"2025-01-02T03:04:05Z","steps":[]}`, w.Body.String())
	assert.Len(t, h.store.orders(), 1)
	assert.Contains(t, h.checkouts.started, "00000000-0000-4000-8000-000000000001", "its checkout saga started")
}

func TestPlaceOrderRefusesBadInputAndChangesNothing(t *testing.T) {
	t.Parallel()
	lines := make([]string, 51)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"product_id":"p-%d","quantity":1}`, i)
	}
	tests := []struct {
		name      string
		user, key string
		ctype     string
		body      string
		want      int
		wantField string
	}{
		{"no idempotency key", adaID, "", "", oneLine, http.StatusBadRequest, "Idempotency-Key"},
		{"idempotency key too long", adaID, strings.Repeat("k", 256), "", oneLine, http.StatusBadRequest, "Idempotency-Key"},
		{"idempotency key with a space", adaID, "a b", "", oneLine, http.StatusBadRequest, "Idempotency-Key"},
		{"not JSON", adaID, "k", "text/plain", oneLine, http.StatusUnsupportedMediaType, ""},
		{"empty body", adaID, "k", "", "", http.StatusBadRequest, ""},
		{"unknown field", adaID, "k", "", `{"items":[{"product_id":"espresso-beans-1kg","quantity":1}],"discount":100}`, http.StatusBadRequest, ""},
		{"unknown field in a line", adaID, "k", "", `{"items":[{"product_id":"espresso-beans-1kg","quantity":1,"price_cents":1}]}`, http.StatusBadRequest, ""},
		{"quantity a string", adaID, "k", "", `{"items":[{"product_id":"espresso-beans-1kg","quantity":"2"}]}`, http.StatusBadRequest, ""},
		{"quantity a fraction", adaID, "k", "", `{"items":[{"product_id":"espresso-beans-1kg","quantity":1.5}]}`, http.StatusBadRequest, ""},
		{"duplicate key", adaID, "k", "", `{"items":[],"items":[{"product_id":"espresso-beans-1kg","quantity":1}]}`, http.StatusBadRequest, ""},
		{"no items", adaID, "k", "", `{"items":[]}`, http.StatusBadRequest, "items"},
		{"items missing", adaID, "k", "", `{}`, http.StatusBadRequest, "items"},
		{"too many lines", adaID, "k", "", `{"items":[` + strings.Join(lines, ",") + `]}`, http.StatusBadRequest, "items"},
		{"zero quantity", adaID, "k", "", `{"items":[{"product_id":"espresso-beans-1kg","quantity":0}]}`, http.StatusBadRequest, "items[0].quantity"},
		{"negative quantity", adaID, "k", "", `{"items":[{"product_id":"espresso-beans-1kg","quantity":-3}]}`, http.StatusBadRequest, "items[0].quantity"},
		{"absurd quantity", adaID, "k", "", `{"items":[{"product_id":"espresso-beans-1kg","quantity":1000000000}]}`, http.StatusBadRequest, "items[0].quantity"},
		{"product id of the wrong shape", adaID, "k", "", `{"items":[{"product_id":"../Espresso","quantity":1}]}`, http.StatusBadRequest, "items[0].product_id"},
		{"no product id", adaID, "k", "", `{"items":[{"quantity":1}]}`, http.StatusBadRequest, "items[0].product_id"},
		{"product twice", adaID, "k", "", `{"items":[{"product_id":"pour-over-kettle","quantity":1},{"product_id":"pour-over-kettle","quantity":1}]}`, http.StatusBadRequest, "items[1].product_id"},
		{"unknown product", adaID, "k", "", `{"items":[{"product_id":"espresso-beans-1kg","quantity":1},{"product_id":"no-such-thing","quantity":1}]}`, http.StatusUnprocessableEntity, "items[1].product_id"},
		{"user not a UUID", "ada", "k", "", oneLine, http.StatusBadRequest, "user id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness()
			r := httptest.NewRequest(http.MethodPost, "/users/"+tt.user+"/orders", strings.NewReader(tt.body))
			r.Header.Set(web.AppTokenHeader, testToken)
			r.Header.Set("Content-Type", "application/json")
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			if tt.key != "" {
				r.Header.Set(idempotencyHeader, tt.key)
			}
			w := httptest.NewRecorder()
			h.handler.ServeHTTP(w, r)

			require.Equal(t, tt.want, w.Code, w.Body.String())
			p := problemOf(t, w)
			assert.Equal(t, tt.want, p.Status)
			if tt.wantField != "" {
				require.NotEmpty(t, p.Errors, "the problem names the field")
				assert.Equal(t, tt.wantField, p.Errors[0].Field)
			}
			assert.Empty(t, h.store.orders(), "no order")
			assert.Empty(t, h.store.claims(), "the key stays free")
			assert.Empty(t, h.checkouts.started, "no saga")
		})
	}
}

func TestSameKeySameBodyGetsTheSameResponse(t *testing.T) {
	t.Parallel()
	h := newHarness()
	first := h.place(adaID, "k1", oneLine)
	require.Equal(t, http.StatusAccepted, first.Code, first.Body.String())
	h.clock.Add(time.Hour) // a retry an hour later
	again := h.place(adaID, "k1", "{ \"items\" : [ {\"quantity\":2, \"product_id\":\"espresso-beans-1kg\"} ] }")
	assert.Equal(t, http.StatusAccepted, again.Code)
	assert.Equal(t, first.Body.String(), again.Body.String(), "byte for byte")
	assert.Len(t, h.store.orders(), 1)
}

func TestSameKeyOtherBodyIs422(t *testing.T) {
	t.Parallel()
	h := newHarness()
	require.Equal(t, http.StatusAccepted, h.place(adaID, "k1", oneLine).Code)
	w := h.place(adaID, "k1", `{"items":[{"product_id":"espresso-beans-1kg","quantity":3}]}`)
	assert.Equal(t, http.StatusUnprocessableEntity, w.Code)
	assert.Contains(t, problemOf(t, w).Detail, "different order")
	assert.Len(t, h.store.orders(), 1)
}

func TestKeysAreScopedPerUser(t *testing.T) {
	t.Parallel()
	h := newHarness()
	a := h.place(adaID, "k1", oneLine)
	b := h.place(bobID, "k1", oneLine)
	require.Equal(t, http.StatusAccepted, a.Code)
	require.Equal(t, http.StatusAccepted, b.Code)
	assert.NotEqual(t, a.Body.String(), b.Body.String())
	assert.Len(t, h.store.orders(), 2)
}

func TestSameKeyWhileInFlightIs409(t *testing.T) {
	t.Parallel()
	h := newHarness()
	var second *httptest.ResponseRecorder
	var once sync.Once
	// The second request arrives after the first claimed the key and
	// before it saved the order.
	h.store.onPut = func() { once.Do(func() { second = h.place(adaID, "k1", oneLine) }) }
	first := h.place(adaID, "k1", oneLine)
	require.Equal(t, http.StatusAccepted, first.Code, first.Body.String())
	require.NotNil(t, second)
	assert.Equal(t, http.StatusConflict, second.Code)
	assert.Contains(t, problemOf(t, second).Detail, "still being processed")
	assert.Len(t, h.store.orders(), 1)
}

func TestAClaimLeftByADeadRequestIsTakenOverAfterItsLease(t *testing.T) {
	t.Parallel()
	h := newHarness()
	fp := (&placeOrder{Items: []line{{ProductID: "espresso-beans-1kg", Quantity: 2}}}).fingerprint()
	dead := claim{Fingerprint: fp, OrderID: "11111111-1111-4111-8111-111111111111", StartedAt: h.clock.Now()}
	require.NoError(t, h.store.PutClaim(context.Background(), adaID, "k1", dead, ""))

	assert.Equal(t, http.StatusConflict, h.place(adaID, "k1", oneLine).Code, "within the lease")
	h.clock.Add(inFlightLease)
	w := h.place(adaID, "k1", oneLine)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), dead.OrderID, "the order keeps the id the key was given")
	assert.Len(t, h.store.orders(), 1)
}

func TestConcurrentRetriesMakeOneOrder(t *testing.T) {
	t.Parallel()
	h := newHarness()
	var wg sync.WaitGroup
	codes := make([]int, 16)
	bodies := make([]string, 16)
	for i := range codes {
		wg.Go(func() {
			w := h.place(adaID, "k1", oneLine)
			codes[i], bodies[i] = w.Code, w.Body.String()
		})
	}
	wg.Wait()
	require.Len(t, h.store.orders(), 1)
	var o Order
	for _, ord := range h.store.orders() {
		o = ord
	}
	for i, code := range codes {
		switch code {
		case http.StatusAccepted:
			assert.Contains(t, bodies[i], o.ID)
		case http.StatusConflict:
		default:
			t.Errorf("request %d: %d %s", i, code, bodies[i])
		}
	}
}

func TestCatalogDownIs503AndFreesTheKey(t *testing.T) {
	t.Parallel()
	h := newHarness()
	h.catalog.err = apperr.Wrap(apperr.Unavailable, errors.New("connection refused"), "the catalog is unavailable")
	w := h.place(adaID, "k1", oneLine)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.NotContains(t, w.Body.String(), "connection refused")
	assert.Empty(t, h.store.claims())

	h.catalog.mu.Lock()
	h.catalog.err = nil
	h.catalog.mu.Unlock()
	assert.Equal(t, http.StatusAccepted, h.place(adaID, "k1", oneLine).Code, "a retry with the same key succeeds")
}

func TestStoreDownIs503(t *testing.T) {
	t.Parallel()
	h := newHarness()
	h.store.mem.Fail(apperr.Wrap(apperr.Unavailable, errors.New("db down"), "state store unavailable"))
	for _, w := range []*httptest.ResponseRecorder{
		h.place(adaID, "k1", oneLine),
		h.do(http.MethodGet, "/users/"+adaID+"/orders", "", ""),
		h.do(http.MethodGet, "/users/"+adaID+"/orders/00000000-0000-4000-8000-000000000001", "", ""),
	} {
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
		assert.NotContains(t, w.Body.String(), "db down")
	}
}

func TestGetOrderOnlyTheCallers(t *testing.T) {
	t.Parallel()
	h := newHarness()
	require.Equal(t, http.StatusAccepted, h.place(adaID, "k1", oneLine).Code)
	id := "00000000-0000-4000-8000-000000000001"
	tests := []struct {
		name, user, id string
		want           int
	}{
		{"own", adaID, id, http.StatusOK},
		{"another user's", bobID, id, http.StatusNotFound},
		{"missing", adaID, "00000000-0000-4000-8000-000000000009", http.StatusNotFound},
		{"not a UUID", adaID, "1", http.StatusBadRequest},
		{"upper-case", adaID, "5F1E2D3C-4B5A-4697-8877-665544332211", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do(http.MethodGet, "/users/"+tt.user+"/orders/"+tt.id, "", "")
			require.Equal(t, tt.want, w.Code, w.Body.String())
			if tt.want == http.StatusOK {
				assert.Contains(t, w.Body.String(), `"status":"pending"`)
				return
			}
			if tt.user != adaID {
				assert.NotContains(t, w.Body.String(), adaID, "nothing about the owner")
			}
		})
	}
}

func TestListOrdersNewestFirstInPages(t *testing.T) {
	t.Parallel()
	h := newHarness()
	for i := range 5 {
		require.Equal(t, http.StatusAccepted, h.place(adaID, fmt.Sprint("k", i), oneLine).Code)
		h.clock.Add(time.Second)
	}
	require.Equal(t, http.StatusAccepted, h.place(bobID, "k0", oneLine).Code)

	var ids []string
	path := "/users/" + adaID + "/orders?limit=2"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5, "paging ends")
		w := h.do(http.MethodGet, path, "", "")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var resp listResponse
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
		for _, o := range resp.Items {
			ids = append(ids, o.ID)
		}
		if resp.NextCursor == "" {
			break
		}
		path = "/users/" + adaID + "/orders?limit=2&cursor=" + resp.NextCursor
	}
	assert.Equal(t, []string{
		"00000000-0000-4000-8000-000000000005", "00000000-0000-4000-8000-000000000004",
		"00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000002",
		"00000000-0000-4000-8000-000000000001",
	}, ids)

	w := h.do(http.MethodGet, "/users/"+bobID+"/orders?limit=100", "", "")
	assert.Contains(t, w.Body.String(), "00000000-0000-4000-8000-000000000006")
	assert.NotContains(t, w.Body.String(), "00000000-0000-4000-8000-000000000001")
}

func TestListOrdersBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness()
	for _, q := range []string{"limit=0", "limit=-1", "limit=101", "limit=x", "cursor=nope"} {
		w := h.do(http.MethodGet, "/users/"+adaID+"/orders?"+q, "", "")
		assert.Equal(t, http.StatusBadRequest, w.Code, q)
	}
	w := h.do(http.MethodGet, "/users/"+adaID+"/orders", "", "")
	assert.JSONEq(t, `{"items":[]}`, w.Body.String(), "an empty list, not null")
}

func TestRoutesNeedTheAppToken(t *testing.T) {
	t.Parallel()
	h := newHarness()
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodPost, "/users/"+adaID+"/orders", strings.NewReader(oneLine)),
		httptest.NewRequest(http.MethodGet, "/users/"+adaID+"/orders", nil),
		httptest.NewRequest(http.MethodGet, "/users/"+adaID+"/orders/00000000-0000-4000-8000-000000000001", nil),
	} {
		r.Header.Set(idempotencyHeader, "k1")
		w := httptest.NewRecorder()
		h.handler.ServeHTTP(w, r)
		assert.Equal(t, http.StatusUnauthorized, w.Code, r.URL.Path)
	}
	assert.Empty(t, h.store.claims())
}

func TestCancelOrder(t *testing.T) {
	t.Parallel()
	h := newHarness()
	for i := range 3 {
		require.Equal(t, http.StatusAccepted, h.place(adaID, fmt.Sprint("k", i), oneLine).Code)
	}
	pending, completed, cancelled := "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003"
	for id, st := range map[string]Status{completed: StatusCompleted, cancelled: StatusCancelled} {
		_, err := h.store.Update(context.Background(), id, func(o *Order) error { o.Status = st; return nil })
		require.NoError(t, err)
	}
	tests := []struct {
		name, user, id string
		want           int
	}{
		{"pending", adaID, pending, http.StatusAccepted},
		{"cancelled already", adaID, cancelled, http.StatusOK},
		{"completed", adaID, completed, http.StatusConflict},
		{"another user's", bobID, pending, http.StatusNotFound},
		{"missing", adaID, "00000000-0000-4000-8000-000000000009", http.StatusNotFound},
		{"not a UUID", adaID, "x", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do(http.MethodDelete, "/users/"+tt.user+"/orders/"+tt.id, "", "")
			assert.Equal(t, tt.want, w.Code, w.Body.String())
		})
	}
	assert.Equal(t, []string{pending}, h.checkouts.cancelled, "only the pending order's saga is told")
}
