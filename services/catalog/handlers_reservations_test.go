package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/barrier"
	"github.com/daprshop/daprshop/internal/faults"
	"github.com/daprshop/daprshop/internal/state"
	"github.com/daprshop/daprshop/internal/web"
)

// harness serves the catalog from one in-memory state store that holds the
// products (behind the read cache, as in production) and the reservations,
// with a clock the test moves.
type harness struct {
	state   *state.MemoryStore
	clock   *clock
	res     *reservations
	handler http.Handler
}

func newHarness(t *testing.T, f faults.Faults) *harness {
	t.Helper()
	h := &harness{state: state.NewMemoryStore(), clock: newClock()}
	products := newStateProductStore(h.state)
	cached := newCache(products, ttl, h.clock.Now)
	svc := newService(cached)
	require.NoError(t, svc.Seed(context.Background(), testProducts))
	h.res = newReservations(h.state, products, cached.Invalidate, h.clock.Now, reservationTTL, svc.requireSeeded)
	h.res.barrier = barrier.New(h.state, h.clock.Now, barrier.WithBackoff(func(int) time.Duration { return 0 }))
	h.handler = newServer(discard, svc, h.res, f, allReady(ready, svc.Ready), testToken)
	return h
}

func (h *harness) do(method, target, contentType, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	r.Header.Set(web.AppTokenHeader, testToken)
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return w
}

func (h *harness) post(target, body string) *httptest.ResponseRecorder {
	return h.do(http.MethodPost, target, "application/json", body)
}

func (h *harness) get(target string) *httptest.ResponseRecorder {
	return h.do(http.MethodGet, target, "", "")
}

// stock returns GET /stock by product id.
func (h *harness) stock(t *testing.T) map[string]Stock {
	t.Helper()
	w := h.get("/stock")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var out struct {
		Items []stockResponse `json:"items"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out))
	levels := map[string]Stock{}
	for _, it := range out.Items {
		levels[it.ID] = Stock{Available: it.Available, Reserved: it.Reserved, Sold: it.Sold}
	}
	return levels
}

// held returns GET /reservations?status=reserved.
func (h *harness) held(t *testing.T) []reservationResponse {
	t.Helper()
	w := h.get("/reservations?status=reserved")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var out reservationListResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out))
	return out.Items
}

// assertInvariant checks every product against the seed: no unit created
// or lost, and the reserved units are exactly those of the seed plus those
// the held reservations hold.
func (h *harness) assertInvariant(t *testing.T) {
	t.Helper()
	heldUnits := map[string]int64{}
	for _, r := range h.held(t) {
		assert.Equal(t, StatusReserved, r.Status)
		for _, l := range r.Items {
			heldUnits[l.ProductID] += l.Quantity
		}
	}
	levels := h.stock(t)
	require.Len(t, levels, len(testProducts))
	for _, p := range testProducts {
		got := levels[p.ID]
		assert.Equal(t, p.Stock.Total(), got.Total(), "%s: available + reserved + sold", p.ID)
		assert.Equal(t, p.Stock.Reserved+heldUnits[p.ID], got.Reserved, "%s: reserved by the held reservations", p.ID)
		assert.GreaterOrEqual(t, got.Sold, p.Stock.Sold, "%s: sold never goes back", p.ID)
	}
}

// step is one call of a scenario, or a move of the clock, or a sweep.
type step struct {
	op         string // try, confirm, cancel, get, advance, sweep
	body       string // try: the body
	advance    time.Duration
	wantStatus int
	wantBody   string // JSON; {order} and {expires} are replaced
}

const (
	mug2  = `{"items":[{"product_id":"mug","quantity":2}]}`
	mug2r = `{"order_id":"{order}","status":"reserved","items":[{"product_id":"mug","quantity":2}],"expires_at":"{expires}"}`
)

func (h *harness) run(t *testing.T, order string, s step) {
	t.Helper()
	var w *httptest.ResponseRecorder
	switch s.op {
	case "advance":
		h.clock.Advance(s.advance)
		return
	case "sweep":
		_, err := h.res.Sweep(context.Background())
		require.NoError(t, err)
		return
	case "try":
		w = h.post("/reservations/"+order+"/try", s.body)
	case "confirm", "cancel":
		w = h.post("/reservations/"+order+"/"+s.op, s.body)
	case "get":
		w = h.get("/reservations/" + order)
	default:
		t.Fatalf("unknown op %q", s.op)
	}
	require.Equal(t, s.wantStatus, w.Code, "%s: %s", s.op, w.Body.String())
	if s.wantStatus >= 400 {
		assertProblem(t, s.wantStatus, "", w)
		return
	}
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	if s.wantBody != "" {
		expires := newClock().Now().Add(reservationTTL).Format(time.RFC3339Nano)
		want := strings.NewReplacer("{order}", order, "{expires}", expires).Replace(s.wantBody)
		assert.JSONEq(t, want, w.Body.String(), s.op)
	}
}

func TestReservationScenarios(t *testing.T) {
	t.Parallel()
	confirmed := `{"order_id":"{order}","status":"confirmed"}`
	cancelled := `{"order_id":"{order}","status":"cancelled"}`
	tests := []struct {
		name      string
		steps     []step
		wantStock Stock // of the mug afterwards (seeded with 8 available)
	}{
		{"try, confirm, each repeated; a cancel after it is refused", []step{
			{op: "try", body: mug2, wantStatus: 200, wantBody: mug2r},
			{op: "try", body: mug2, wantStatus: 200, wantBody: mug2r},
			{op: "get", wantStatus: 200, wantBody: mug2r},
			{op: "confirm", wantStatus: 200, wantBody: confirmed},
			{op: "confirm", body: `{}`, wantStatus: 200, wantBody: confirmed},
			{op: "cancel", wantStatus: 409},
			{op: "get", wantStatus: 200, wantBody: strings.Replace(mug2r, "reserved", "confirmed", 1)},
		}, Stock{Available: 6, Sold: 2}},
		{"try, cancel, each repeated; a confirm after it is refused", []step{
			{op: "try", body: mug2, wantStatus: 200, wantBody: mug2r},
			{op: "cancel", body: `{}`, wantStatus: 200, wantBody: cancelled},
			{op: "cancel", wantStatus: 200, wantBody: cancelled},
			{op: "confirm", wantStatus: 409},
			{op: "try", body: mug2, wantStatus: 200, wantBody: mug2r}, // a late repeat replays, reserving nothing
			{op: "get", wantStatus: 200, wantBody: strings.Replace(mug2r, "reserved", "cancelled", 1)},
		}, Stock{Available: 8}},
		{"a cancel before the try blocks it", []step{
			{op: "cancel", wantStatus: 200, wantBody: cancelled},
			{op: "try", body: mug2, wantStatus: 409},
			{op: "confirm", wantStatus: 409},
			{op: "cancel", wantStatus: 200, wantBody: cancelled},
			{op: "get", wantStatus: 404},
		}, Stock{Available: 8}},
		{"a confirm without a try is refused", []step{
			{op: "confirm", wantStatus: 409},
			{op: "get", wantStatus: 404},
			{op: "try", body: mug2, wantStatus: 200, wantBody: mug2r}, // a confirm blocks nothing
		}, Stock{Available: 6, Reserved: 2}},
		{"a repeat with other lines is refused", []step{
			{op: "try", body: mug2, wantStatus: 200, wantBody: mug2r},
			{op: "try", body: `{"items":[{"product_id":"mug","quantity":3}]}`, wantStatus: 409},
		}, Stock{Available: 6, Reserved: 2}},
		{"swept at its expiry: a late confirm is refused, the cancel succeeds", []step{
			{op: "try", body: mug2, wantStatus: 200, wantBody: mug2r},
			{op: "advance", advance: reservationTTL - time.Nanosecond},
			{op: "sweep"},
			{op: "get", wantStatus: 200, wantBody: mug2r},
			{op: "advance", advance: time.Nanosecond},
			{op: "sweep"},
			{op: "get", wantStatus: 200, wantBody: strings.Replace(mug2r, "reserved", "expired", 1)},
			{op: "confirm", wantStatus: 409},
			{op: "cancel", wantStatus: 200, wantBody: cancelled},
			{op: "cancel", wantStatus: 200, wantBody: cancelled},
		}, Stock{Available: 8}},
		{"past its expiry, not swept yet: a confirm is refused and releases", []step{
			{op: "try", body: mug2, wantStatus: 200, wantBody: mug2r},
			{op: "advance", advance: reservationTTL},
			{op: "confirm", wantStatus: 409},
			{op: "get", wantStatus: 200, wantBody: strings.Replace(mug2r, "reserved", "expired", 1)},
			{op: "confirm", wantStatus: 409},
			{op: "cancel", wantStatus: 200, wantBody: cancelled},
		}, Stock{Available: 8}},
		{"confirmed just in time: the sweeper leaves it sold", []step{
			{op: "try", body: mug2, wantStatus: 200, wantBody: mug2r},
			{op: "advance", advance: reservationTTL - time.Nanosecond},
			{op: "confirm", wantStatus: 200, wantBody: confirmed},
			{op: "advance", advance: reservationTTL},
			{op: "sweep"},
			{op: "get", wantStatus: 200, wantBody: strings.Replace(mug2r, "reserved", "confirmed", 1)},
		}, Stock{Available: 6, Sold: 2}},
		{"a cancel past the expiry releases", []step{
			{op: "try", body: mug2, wantStatus: 200, wantBody: mug2r},
			{op: "advance", advance: 2 * reservationTTL},
			{op: "cancel", wantStatus: 200, wantBody: cancelled},
			{op: "sweep"},
			{op: "get", wantStatus: 200, wantBody: strings.Replace(mug2r, "reserved", "cancelled", 1)},
		}, Stock{Available: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, faults.Faults{})
			order := uuid.NewString()
			for i, s := range tt.steps {
				h.run(t, order, s)
				if t.Failed() {
					t.Fatalf("step %d (%s) failed", i, s.op)
				}
				h.assertInvariant(t)
			}
			assert.Equal(t, tt.wantStock, h.stock(t)["mug"])
		})
	}
}

func TestTryRefusesWhatItCannotReserve(t *testing.T) {
	t.Parallel()
	line := func(id string, q int) string { return fmt.Sprintf(`{"product_id":%q,"quantity":%d}`, id, q) }
	many := func(n int) string {
		ls := make([]string, n)
		for i := range ls {
			ls[i] = line(fmt.Sprintf("p%d", i), 1)
		}
		return `{"items":[` + strings.Join(ls, ",") + `]}`
	}
	tests := []struct {
		name        string
		order       string
		contentType string
		body        string
		storeErr    error
		wantStatus  int
		wantFields  []string
		wantDetail  string // in the problem's detail
	}{
		{"order id not a UUID", "order-1", "application/json", mug2, nil, 400, []string{"order"}, ""},
		{"order id in upper case", strings.ToUpper(uuid.NewString()), "application/json", mug2, nil, 400, []string{"order"}, ""},
		{"order id without dashes", strings.ReplaceAll(uuid.NewString(), "-", ""), "application/json", mug2, nil, 400, []string{"order"}, ""},
		{"empty body", "", "application/json", "", nil, 400, nil, ""},
		{"not JSON", "", "text/plain", mug2, nil, 415, nil, ""},
		{"unknown field", "", "application/json", `{"items":[` + line("mug", 1) + `],"note":"x"}`, nil, 400, []string{"note"}, ""},
		{"two values", "", "application/json", mug2 + mug2, nil, 400, nil, ""},
		{"no lines", "", "application/json", `{"items":[]}`, nil, 400, []string{"items"}, ""},
		{"no items field", "", "application/json", `{}`, nil, 400, []string{"items"}, ""},
		{"51 lines", "", "application/json", many(51), nil, 400, []string{"items"}, ""},
		{"zero units", "", "application/json", `{"items":[` + line("mug", 0) + `]}`, nil, 400, []string{"items[0].quantity"}, ""},
		{"101 units", "", "application/json", `{"items":[` + line("mug", 101) + `]}`, nil, 400, []string{"items[0].quantity"}, ""},
		{"units not whole", "", "application/json", `{"items":[{"product_id":"mug","quantity":1.5}]}`, nil, 400, []string{"items.quantity"}, ""},
		{"a product twice", "", "application/json", `{"items":[` + line("mug", 1) + `,` + line("kettle", 1) + `,` + line("mug", 2) + `]}`, nil, 400, []string{"items[2].product_id"}, ""},
		{"bad product ids", "", "application/json", `{"items":[` + line("Mug", 1) + `,` + line("", 1) + `]}`, nil, 400, []string{"items[0].product_id", "items[1].product_id"}, ""},
		{"unknown product", "", "application/json", `{"items":[` + line("mug", 1) + `,` + line("teapot", 1) + `]}`, nil, 422, []string{"items[1].product_id"}, "unknown product teapot"},
		{"not enough stock on one line", "", "application/json", `{"items":[` + line("mug", 8) + `,` + line("beans-1kg", 4) + `]}`, nil, 422, []string{"items[1].quantity"}, "not enough stock of beans-1kg: 3 available, 4 asked"},
		{"sold out", "", "application/json", `{"items":[` + line("kettle", 1) + `]}`, nil, 422, []string{"items[0].quantity"}, "not enough stock of kettle"},
		{"store down", "", "application/json", mug2, storeDown, 503, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, faults.Faults{})
			order := tt.order
			if order == "" {
				order = uuid.NewString()
			}
			h.state.Fail(tt.storeErr)
			w := h.do(http.MethodPost, "/reservations/"+order+"/try", tt.contentType, tt.body)
			h.state.Fail(nil)
			require.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			assertProblem(t, tt.wantStatus, "", w)
			p, fields := problemFields(t, w)
			assert.Equal(t, tt.wantFields, fields)
			assert.Contains(t, p.Detail, tt.wantDetail)
			assert.Empty(t, h.held(t), "nothing reserved")
			h.assertInvariant(t)
		})
	}
}

// A confirm or a cancel takes no body, {}, or the products the caller
// knows the reservation holds; anything else is refused, naming the
// problem, and settles nothing.
func TestSettleRefusesABadBody(t *testing.T) {
	t.Parallel()
	many := `{"products":["p0"` + strings.Repeat(`,"p0"`, 50) + `]}`
	tests := []struct {
		name, contentType, body string
		wantStatus              int
		wantFields              []string
	}{
		{"none", "", "", 200, nil},
		{"empty object", "application/json", `{}`, 200, nil},
		{"the products", "application/json", `{"products":["mug"]}`, 200, nil},
		{"a product it does not hold", "application/json", `{"products":["kettle"]}`, 200, nil},
		{"unknown field", "application/json", `{"items":[]}`, 400, []string{"items"}},
		{"bad product id", "application/json", `{"products":["mug","Mug"]}`, 400, []string{"products[1]"}},
		{"51 products", "application/json", many, 400, []string{"products"}},
		{"not JSON", "text/plain", `{}`, 415, nil},
	}
	for _, op := range []string{"confirm", "cancel"} {
		for _, tt := range tests {
			t.Run(op+", "+tt.name, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, faults.Faults{})
				order := uuid.NewString()
				require.Equal(t, http.StatusOK, h.post("/reservations/"+order+"/try", mug2).Code)
				w := h.do(http.MethodPost, "/reservations/"+order+"/"+op, tt.contentType, tt.body)
				require.Equal(t, tt.wantStatus, w.Code, w.Body.String())
				if tt.wantStatus == http.StatusOK {
					assert.Empty(t, h.held(t), "settled")
					h.assertInvariant(t)
					return
				}
				assertProblem(t, tt.wantStatus, "", w)
				_, fields := problemFields(t, w)
				assert.Equal(t, tt.wantFields, fields)
				assert.Len(t, h.held(t), 1, "still held")
				h.assertInvariant(t)
			})
		}
	}
}

// A confirm through a sidecar without a body may come chunked, with no
// length: still no body.
func TestSettleTakesAChunkedEmptyBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faults.Faults{})
	order := uuid.NewString()
	require.Equal(t, http.StatusOK, h.post("/reservations/"+order+"/try", mug2).Code)
	r := httptest.NewRequest(http.MethodPost, "/reservations/"+order+"/confirm", io.NopCloser(strings.NewReader("")))
	r.ContentLength = -1
	r.Header.Set(web.AppTokenHeader, testToken)
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Empty(t, h.held(t))
}

func TestReservationRoutesRefuseBadOrderIDs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faults.Faults{})
	for _, id := range []string{"order-1", strings.ToUpper(uuid.NewString()), "{" + uuid.NewString() + "}", strings.ReplaceAll(uuid.NewString(), "-", "")} {
		for _, op := range []string{"confirm", "cancel", "get"} {
			t.Run(op+" "+id, func(t *testing.T) {
				t.Parallel()
				var w *httptest.ResponseRecorder
				if op == "get" {
					w = h.get("/reservations/" + id)
				} else {
					w = h.post("/reservations/"+id+"/"+op, "")
				}
				require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
				assertProblem(t, http.StatusBadRequest, "order", w)
			})
		}
	}
}

func TestReservationRoutesNeedTheAppToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faults.Faults{})
	order := uuid.NewString()
	tests := []struct{ method, target string }{
		{http.MethodPost, "/reservations/" + order + "/try"},
		{http.MethodPost, "/reservations/" + order + "/confirm"},
		{http.MethodPost, "/reservations/" + order + "/cancel"},
		{http.MethodGet, "/reservations/" + order},
		{http.MethodGet, "/reservations?status=reserved"},
		{http.MethodGet, "/stock"},
		{http.MethodPut, "/products/mug/receipts/dn-1"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(mug2)) // for a receipt, an unknown field: refused after the token
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.handler.ServeHTTP(w, r)
			require.Equal(t, http.StatusUnauthorized, w.Code, w.Body.String())
			assertProblem(t, http.StatusUnauthorized, "", w)
		})
	}
	assert.Empty(t, h.held(t))
}
