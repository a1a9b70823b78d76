package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/faults"
	"github.com/daprshop/daprshop/internal/paging"
	"github.com/daprshop/daprshop/internal/state"
	"github.com/daprshop/daprshop/internal/web"
)

const testToken = "token"

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func ready(context.Context) error { return nil }

// memProducts is the product store on a memory state store, for the unit
// tests; mem.Fail makes it a store that is down.
type memProducts struct {
	*stateProductStore
	mem *state.MemoryStore
}

func newMemProducts() *memProducts {
	mem := state.NewMemoryStore()
	return &memProducts{stateProductStore: newStateProductStore(mem), mem: mem}
}

// testProducts is a small catalog, deliberately not in id order.
var testProducts = []Product{
	{ID: "mug", Name: "Mug", PriceCents: 1200, Stock: Stock{Available: 8}},
	{ID: "beans-1kg", Name: "Beans, 1 kg", PriceCents: 2450, Stock: Stock{Available: 3, Reserved: 1, Sold: 2}},
	{ID: "kettle", Name: "Kettle", PriceCents: 5990},
}

// newTestReservations serves no reservation: for tests of the other routes.
func newTestReservations(svc *service, store productStore) *reservations {
	return newReservations(state.NewMemoryStore(), store, func(...string) {}, time.Now, time.Minute, svc.requireSeeded)
}

// newTestServer serves the catalog from store, seeded with products unless
// products is nil.
func newTestServer(t *testing.T, store productStore, products []Product) http.Handler {
	t.Helper()
	svc := newService(store)
	if products != nil {
		require.NoError(t, svc.Seed(context.Background(), products))
	}
	return newServer(discard, svc, newTestReservations(svc, store), faults.Faults{}, allReady(ready, svc.Ready), testToken)
}

func get(h http.Handler, target, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if token != "" {
		r.Header.Set(web.AppTokenHeader, token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// assertProblem checks a problem+json answer, and the field it names when
// field is not empty.
func assertProblem(t *testing.T, status int, field string, w *httptest.ResponseRecorder) {
	t.Helper()
	assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
	var p web.Problem
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p), w.Body.String())
	assert.Equal(t, status, p.Status)
	if field != "" && assert.Len(t, p.Errors, 1) {
		assert.Equal(t, field, p.Errors[0].Field)
	}
}

// problemFields decodes a problem+json answer and lists the fields its
// errors name.
func problemFields(t *testing.T, w *httptest.ResponseRecorder) (web.Problem, []string) {
	t.Helper()
	var p web.Problem
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p), w.Body.String())
	var fields []string
	for _, f := range p.Errors {
		fields = append(fields, f.Field)
	}
	return p, fields
}

var storeDown = apperr.Wrap(apperr.Unavailable, errors.New("db down"), "read product")

func TestListProducts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		query      string
		token      string
		storeErr   error
		unseeded   bool
		wantStatus int
		wantBody   string // JSON, on success
		wantField  string // named by the problem, on failure
	}{
		{"every product, sorted", "", testToken, nil, false, http.StatusOK,
			`{"items":[{"id":"beans-1kg","name":"Beans, 1 kg","price_cents":2450,"available":3},
				{"id":"kettle","name":"Kettle","price_cents":5990,"available":0},
				{"id":"mug","name":"Mug","price_cents":1200,"available":8}]}`, ""},
		{"first page", "?limit=2", testToken, nil, false, http.StatusOK,
			`{"items":[{"id":"beans-1kg","name":"Beans, 1 kg","price_cents":2450,"available":3},
				{"id":"kettle","name":"Kettle","price_cents":5990,"available":0}],"next_cursor":"` + paging.Cursor("kettle") + `"}`, ""},
		{"last page", "?limit=2&cursor=" + paging.Cursor("kettle"), testToken, nil, false, http.StatusOK,
			`{"items":[{"id":"mug","name":"Mug","price_cents":1200,"available":8}]}`, ""},
		{"past the end", "?cursor=" + paging.Cursor("zzz"), testToken, nil, false, http.StatusOK, `{"items":[]}`, ""},
		{"zero limit", "?limit=0", testToken, nil, false, http.StatusBadRequest, "", "limit"},
		{"limit over the maximum", "?limit=101", testToken, nil, false, http.StatusBadRequest, "", "limit"},
		{"limit not a number", "?limit=abc", testToken, nil, false, http.StatusBadRequest, "", "limit"},
		{"cursor not ours", "?cursor=abc", testToken, nil, false, http.StatusBadRequest, "", "cursor"},
		{"no app token", "", "", nil, false, http.StatusUnauthorized, "", ""},
		{"wrong app token", "", "guess", nil, false, http.StatusUnauthorized, "", ""},
		{"store down", "", testToken, storeDown, false, http.StatusServiceUnavailable, "", ""},
		{"not seeded yet", "", testToken, nil, true, http.StatusServiceUnavailable, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newMemProducts()
			products := testProducts
			if tt.unseeded {
				products = nil
			}
			h := newTestServer(t, store, products)
			store.mem.Fail(tt.storeErr)
			w := get(h, "/products"+tt.query, tt.token)
			require.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			if tt.wantBody != "" {
				assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
				assert.JSONEq(t, tt.wantBody, w.Body.String())
				return
			}
			assertProblem(t, tt.wantStatus, tt.wantField, w)
		})
	}
}

func TestListProductsWalksEveryProductOnce(t *testing.T) {
	t.Parallel()
	h := newTestServer(t, newMemProducts(), seedProducts)
	var want []string
	for _, p := range seedProducts {
		want = append(want, p.ID)
	}
	slices.Sort(want)
	for limit := 1; limit <= len(seedProducts)+1; limit++ {
		var got []string
		cursor := ""
		for range len(seedProducts) + 1 { // never more pages than products, plus one
			target := "/products?limit=" + strconv.Itoa(limit)
			if cursor != "" {
				target += "&cursor=" + cursor
			}
			w := get(h, target, testToken)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			var page struct {
				Items []struct {
					ID string `json:"id"`
				} `json:"items"`
				NextCursor string `json:"next_cursor"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &page))
			assert.LessOrEqual(t, len(page.Items), limit)
			for _, it := range page.Items {
				got = append(got, it.ID)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		assert.Equal(t, want, got, "limit %d", limit)
	}
}

func TestGetProduct(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		id         string
		token      string
		storeErr   error
		unseeded   bool
		wantStatus int
		wantBody   string
		wantField  string
	}{
		{"known", "beans-1kg", testToken, nil, false, http.StatusOK, `{"id":"beans-1kg","name":"Beans, 1 kg","price_cents":2450,"available":3}`, ""},
		{"none available", "kettle", testToken, nil, false, http.StatusOK, `{"id":"kettle","name":"Kettle","price_cents":5990,"available":0}`, ""},
		{"unknown", "teapot", testToken, nil, false, http.StatusNotFound, "", ""},
		{"longest id, unknown", strings.Repeat("a", 64), testToken, nil, false, http.StatusNotFound, "", ""},
		{"id too long", strings.Repeat("a", 65), testToken, nil, false, http.StatusBadRequest, "", "id"},
		{"upper case", "Mug", testToken, nil, false, http.StatusBadRequest, "", "id"},
		{"double dash", "beans--1kg", testToken, nil, false, http.StatusBadRequest, "", "id"},
		{"leading dash", "-mug", testToken, nil, false, http.StatusBadRequest, "", "id"},
		{"trailing dash", "mug-", testToken, nil, false, http.StatusBadRequest, "", "id"},
		{"underscore", "beans_1kg", testToken, nil, false, http.StatusBadRequest, "", "id"},
		{"escaped space", "beans%201kg", testToken, nil, false, http.StatusBadRequest, "", "id"},
		{"no app token", "mug", "", nil, false, http.StatusUnauthorized, "", ""},
		{"store down", "mug", testToken, storeDown, false, http.StatusServiceUnavailable, "", ""},
		{"not seeded yet", "mug", testToken, nil, true, http.StatusServiceUnavailable, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newMemProducts()
			products := testProducts
			if tt.unseeded {
				products = nil
			}
			h := newTestServer(t, store, products)
			store.mem.Fail(tt.storeErr)
			w := get(h, "/products/"+tt.id, tt.token)
			require.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			if tt.wantBody != "" {
				assert.JSONEq(t, tt.wantBody, w.Body.String())
				return
			}
			assertProblem(t, tt.wantStatus, tt.wantField, w)
		})
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	sidecarDown := func(context.Context) error { return errors.New("connection refused") }
	tests := []struct {
		name       string
		target     string
		sidecar    func(context.Context) error
		seeded     bool
		wantStatus int
	}{
		{"alive before the seed", "/healthz", sidecarDown, false, http.StatusOK},
		{"ready", "/readyz", ready, true, http.StatusOK},
		{"not seeded yet", "/readyz", ready, false, http.StatusServiceUnavailable},
		{"sidecar down", "/readyz", sidecarDown, true, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := newService(newMemProducts())
			if tt.seeded {
				require.NoError(t, svc.Seed(context.Background(), testProducts))
			}
			h := newServer(discard, svc, newTestReservations(svc, svc.store), faults.Faults{}, allReady(tt.sidecar, svc.Ready), testToken)
			w := get(h, tt.target, "") // no token: health is open
			assert.Equal(t, tt.wantStatus, w.Code, w.Body.String())
		})
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	h := newTestServer(t, newMemProducts(), testProducts)
	tests := []struct {
		name       string
		method     string
		target     string
		wantStatus int
	}{
		{"no such path", http.MethodGet, "/items", http.StatusNotFound},
		{"post a product", http.MethodPost, "/products", http.StatusMethodNotAllowed},
		{"delete a product", http.MethodDelete, "/products/mug", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, tt.target, nil)
			r.Header.Set(web.AppTokenHeader, testToken)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			assertProblem(t, tt.wantStatus, "", w)
		})
	}
}
