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
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/barrier"
	"github.com/daprshop/daprshop/internal/faults"
	"github.com/daprshop/daprshop/internal/web"
)

const (
	testToken = "token"
	adaID     = "0b6c3f4e-6a8e-4a4b-9a57-3f0c2a8b9d11"
	bobID     = "9b2d7c55-1e0f-4a8b-b6c3-2d4e5f607182" // never has a wallet
	orderID   = "5f0e8a1c-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
	order2ID  = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"
	credit    = 100000
)

var (
	discard  = slog.New(slog.NewTextHandler(io.Discard, nil))
	fixedNow = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }
	noFaults = faults.Faults{}
)

func ready(context.Context) error { return nil }

func newTestServer(store barrier.Store) http.Handler {
	return newTestServerWithFaults(store, noFaults)
}

func newTestServerWithFaults(store barrier.Store, f faults.Faults) http.Handler {
	return newServer(discard, newService(store, fixedNow, credit), f, ready, testToken)
}

// storeWithWallet returns a store in which ada's wallet holds the starting
// credit and the merchant nothing.
func storeWithWallet(t *testing.T) *barrier.MemoryStore {
	t.Helper()
	store := barrier.NewMemoryStore()
	opened, err := newService(store, fixedNow, credit).OpenWallet(context.Background(), adaID)
	require.NoError(t, err)
	require.True(t, opened)
	return store
}

// balances returns ada's wallet (0 if she has none) and the merchant's
// balance.
func balances(t *testing.T, store barrier.Store) (wallet, merchant int64) {
	t.Helper()
	svc := newService(store, fixedNow, credit)
	w, err := svc.Wallet(context.Background(), adaID)
	if !apperr.Is(err, apperr.NotFound) {
		require.NoError(t, err)
	}
	merchant, err = svc.MerchantBalance(context.Background())
	require.NoError(t, err)
	return w.BalanceCents, merchant
}

// send serves one request with the app token (unless header overrides it)
// and a JSON body.
func send(h http.Handler, method, path, body string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set(web.AppTokenHeader, testToken)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func chargeBody(userID string, amount int64) string {
	return fmt.Sprintf(`{"user_id":%q,"amount_cents":%d}`, userID, amount)
}

// assertProblem checks a problem+json answer and its detail.
func assertProblem(t *testing.T, w *httptest.ResponseRecorder, status int, detail string) {
	t.Helper()
	require.Equal(t, status, w.Code, w.Body.String())
	assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
	var p web.Problem
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
	assert.Equal(t, status, p.Status)
	assert.Contains(t, p.Detail, detail)
}

func eventRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/events/user-registered", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/cloudevents+json")
	r.Header.Set(web.AppTokenHeader, testToken)
	return r
}

func event(id, userID string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"users","type":"com.dapr.event.sent","topic":"user.registered",
		"datacontenttype":"application/json","data":{"user_id":%q,"email":"ada@example.com","name":"Ada"}}`, id, userID)
}

func TestUserRegisteredOpensAFundedWalletOnce(t *testing.T) {
	t.Parallel()
	store := barrier.NewMemoryStore()
	h := newTestServer(store)
	for _, id := range []string{"ev-1", "ev-1", "ev-2"} { // a redelivery, then a second event for the same user
		w := httptest.NewRecorder()
		h.ServeHTTP(w, eventRequest(event(id, adaID)))
		assert.JSONEq(t, `{"status":"SUCCESS"}`, w.Body.String())
	}
	got, err := newService(store, fixedNow, credit).Wallet(context.Background(), adaID)
	require.NoError(t, err)
	assert.Equal(t, Wallet{UserID: adaID, BalanceCents: credit, OpenedAt: fixedNow()}, got)
}

func TestUserRegisteredFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		storeErr error
		want     string
	}{
		{"not JSON", `nope`, nil, "DROP"},
		{"no id", `{"data":{"user_id":"` + adaID + `"}}`, nil, "DROP"},
		{"user id not a UUID", event("ev-1", "ada"), nil, "DROP"},
		{"upper-case user id", event("ev-1", strings.ToUpper(adaID)), nil, "DROP"},
		{"store down", event("ev-1", adaID), apperr.Wrap(apperr.Unavailable, errors.New("db down"), "state store unavailable"), "RETRY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := barrier.NewMemoryStore()
			store.Err = tt.storeErr
			w := httptest.NewRecorder()
			newTestServer(store).ServeHTTP(w, eventRequest(tt.body))
			assert.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, `{"status":"`+tt.want+`"}`, w.Body.String())
			store.Err = nil
			items, err := store.Get(context.Background(), walletKey(adaID), walletKey(strings.ToUpper(adaID)))
			require.NoError(t, err)
			assert.Empty(t, items)
		})
	}
}

func TestGetWallet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		id         string
		token      string
		wantStatus int
		wantBody   string
	}{
		{"opened", adaID, testToken, http.StatusOK, `{"balance_cents":100000}`},
		{"not yet", bobID, testToken, http.StatusNotFound, ""},
		{"not a UUID", "ada", testToken, http.StatusBadRequest, ""},
		{"no app token", adaID, "", http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := send(newTestServer(storeWithWallet(t)), http.MethodGet, "/users/"+tt.id+"/wallet", "", map[string]string{web.AppTokenHeader: tt.token})
			require.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			if tt.wantBody != "" {
				assert.JSONEq(t, tt.wantBody, w.Body.String())
				return
			}
			assertProblem(t, w, tt.wantStatus, "")
		})
	}
}

// TestChargeOrderRefusals covers one charge that must not move money:
// every answer but 200, and nothing written.
func TestChargeOrderRefusals(t *testing.T) {
	t.Parallel()
	good := chargeBody(adaID, 2500)
	tests := []struct {
		name       string
		order      string
		body       string
		header     map[string]string
		storeErr   error
		wantStatus int
		wantDetail string
	}{
		{name: "balance too low", order: orderID, body: chargeBody(adaID, credit+1), wantStatus: http.StatusUnprocessableEntity, wantDetail: "declined: "},
		{name: "no wallet", order: orderID, body: chargeBody(bobID, 1), wantStatus: http.StatusUnprocessableEntity, wantDetail: "declined: "},
		{name: "order not a UUID", order: "order-1", body: good, wantStatus: http.StatusBadRequest, wantDetail: `"order"`},
		{name: "upper-case order id", order: strings.ToUpper(orderID), body: good, wantStatus: http.StatusBadRequest, wantDetail: `"order"`},
		{name: "user not a UUID", order: orderID, body: chargeBody("ada", 1), wantStatus: http.StatusBadRequest, wantDetail: `"user_id"`},
		{name: "upper-case user id", order: orderID, body: chargeBody(strings.ToUpper(adaID), 1), wantStatus: http.StatusBadRequest, wantDetail: `"user_id"`},
		{name: "no user", order: orderID, body: `{"amount_cents":1}`, wantStatus: http.StatusBadRequest, wantDetail: `"user_id"`},
		{name: "amount zero", order: orderID, body: chargeBody(adaID, 0), wantStatus: http.StatusBadRequest, wantDetail: `"amount_cents"`},
		{name: "no amount", order: orderID, body: `{"user_id":"` + adaID + `"}`, wantStatus: http.StatusBadRequest, wantDetail: `"amount_cents"`},
		{name: "negative amount", order: orderID, body: chargeBody(adaID, -2500), wantStatus: http.StatusBadRequest, wantDetail: `"amount_cents"`},
		{name: "amount above 10^10", order: orderID, body: chargeBody(adaID, maxChargeCents+1), wantStatus: http.StatusBadRequest, wantDetail: `"amount_cents"`},
		{name: "fractional amount", order: orderID, body: `{"user_id":"` + adaID + `","amount_cents":25.5}`, wantStatus: http.StatusBadRequest, wantDetail: `"amount_cents"`},
		{name: "amount as a string", order: orderID, body: `{"user_id":"` + adaID + `","amount_cents":"2500"}`, wantStatus: http.StatusBadRequest, wantDetail: `"amount_cents"`},
		{name: "both fields bad", order: orderID, body: chargeBody("", 0), wantStatus: http.StatusBadRequest, wantDetail: "invalid fields"},
		{name: "unknown field", order: orderID, body: `{"user_id":"` + adaID + `","amount_cents":1,"currency":"EUR"}`, wantStatus: http.StatusBadRequest, wantDetail: `"currency"`},
		{name: "a field twice", order: orderID, body: `{"user_id":"` + adaID + `","amount_cents":1,"Amount_Cents":999}`, wantStatus: http.StatusBadRequest, wantDetail: "more than once"},
		{name: "two values", order: orderID, body: good + good, wantStatus: http.StatusBadRequest, wantDetail: "single JSON value"},
		{name: "no body", order: orderID, body: "", wantStatus: http.StatusBadRequest, wantDetail: "empty"},
		{name: "not JSON", order: orderID, body: good, header: map[string]string{"Content-Type": "text/plain"}, wantStatus: http.StatusUnsupportedMediaType, wantDetail: "Content-Type"},
		{name: "no app token", order: orderID, body: good, header: map[string]string{web.AppTokenHeader: ""}, wantStatus: http.StatusUnauthorized, wantDetail: "sidecar"},
		{name: "store down", order: orderID, body: good, storeErr: apperr.Wrap(apperr.Unavailable, errors.New("db down"), "state store unavailable"), wantStatus: http.StatusServiceUnavailable, wantDetail: "state store unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := storeWithWallet(t)
			store.Err = tt.storeErr
			w := send(newTestServer(store), http.MethodPost, "/charges/"+tt.order, tt.body, tt.header)
			assertProblem(t, w, tt.wantStatus, tt.wantDetail)

			store.Err = nil
			wallet, merchant := balances(t, store)
			assert.Equal(t, int64(credit), wallet, "the wallet is untouched")
			assert.Equal(t, int64(0), merchant)
			items, err := store.Get(context.Background(), chargeKey(orderID), barrier.Key(orderID, chargeBranch, barrier.Try))
			require.NoError(t, err)
			assert.Empty(t, items, "no charge and no barrier record: a retry may charge")
		})
	}
}

// step is one call of a scenario and what it must answer: wantBody for a
// 2xx, wantDetail (a part of the problem's detail) otherwise.
type step struct {
	method, path, body string
	wantStatus         int
	wantBody           string
	wantDetail         string
}

func chargeStep(order, userID string, amount int64, status int, want string) step {
	s := step{method: http.MethodPost, path: "/charges/" + order, body: chargeBody(userID, amount), wantStatus: status}
	if status == http.StatusOK {
		s.wantBody = want
	} else {
		s.wantDetail = want
	}
	return s
}

func refundStep(order, want string) step {
	return step{method: http.MethodPost, path: "/charges/" + order + "/refund", wantStatus: http.StatusOK, wantBody: want}
}

func receipt(order string, amount, balance int64) string {
	return fmt.Sprintf(`{"order_id":%q,"user_id":%q,"amount_cents":%d,"status":"charged","balance_cents":%d}`, order, adaID, amount, balance)
}

func refunded(order string) string { return fmt.Sprintf(`{"order_id":%q,"status":"refunded"}`, order) }
func noRefund(order string) string { return fmt.Sprintf(`{"order_id":%q,"status":"none"}`, order) }

func getCharge(order string, status int, want string) step {
	s := step{method: http.MethodGet, path: "/charges/" + order, wantStatus: status}
	if status == http.StatusOK {
		s.wantBody = want
	} else {
		s.wantDetail = want
	}
	return s
}

// TestSagaBranch plays the calls the checkout saga makes, in every order
// at-least-once delivery can bring them, and checks each answer, ada's
// wallet at the end, and that the money in her wallet and the merchant's
// account is what she started with.
func TestSagaBranch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		steps      []step
		wantWallet int64
	}{
		{
			name: "a charge",
			steps: []step{
				chargeStep(orderID, adaID, 2500, http.StatusOK, receipt(orderID, 2500, 97500)),
				getCharge(orderID, http.StatusOK, `{"order_id":"`+orderID+`","user_id":"`+adaID+`","amount_cents":2500,"status":"charged"}`),
				{method: http.MethodGet, path: "/merchant", wantStatus: http.StatusOK, wantBody: `{"balance_cents":2500}`},
				{method: http.MethodGet, path: "/users/" + adaID + "/wallet", wantStatus: http.StatusOK, wantBody: `{"balance_cents":97500}`},
			},
			wantWallet: 97500,
		},
		{
			name: "the whole balance",
			steps: []step{
				chargeStep(orderID, adaID, credit, http.StatusOK, receipt(orderID, credit, 0)),
				chargeStep(order2ID, adaID, 1, http.StatusUnprocessableEntity, "declined: "),
			},
			wantWallet: 0,
		},
		{
			name: "a repeated charge answers the first receipt and charges once",
			steps: []step{
				chargeStep(orderID, adaID, 2500, http.StatusOK, receipt(orderID, 2500, 97500)),
				chargeStep(order2ID, adaID, 500, http.StatusOK, receipt(order2ID, 500, 97000)),
				chargeStep(orderID, adaID, 2500, http.StatusOK, receipt(orderID, 2500, 97500)),
				{method: http.MethodPost, path: "/charges/" + orderID, body: `{"amount_cents":2500, "user_id":"` + adaID + `"}`, wantStatus: http.StatusOK, wantBody: receipt(orderID, 2500, 97500)},
			},
			wantWallet: 97000,
		},
		{
			name: "a repeat for another amount or user is a conflict",
			steps: []step{
				chargeStep(orderID, adaID, 2500, http.StatusOK, receipt(orderID, 2500, 97500)),
				chargeStep(orderID, adaID, 2600, http.StatusConflict, "another amount"),
				chargeStep(orderID, bobID, 2500, http.StatusConflict, "another user"),
			},
			wantWallet: 97500,
		},
		{
			name: "a declined charge may be retried",
			steps: []step{
				chargeStep(orderID, adaID, credit+1, http.StatusUnprocessableEntity, "declined: "),
				chargeStep(orderID, adaID, credit, http.StatusOK, receipt(orderID, credit, 0)),
			},
			wantWallet: 0,
		},
		{
			name: "a refund gives the money back, once",
			steps: []step{
				chargeStep(orderID, adaID, 2500, http.StatusOK, receipt(orderID, 2500, 97500)),
				chargeStep(order2ID, adaID, 500, http.StatusOK, receipt(order2ID, 500, 97000)),
				refundStep(orderID, refunded(orderID)),
				refundStep(orderID, refunded(orderID)),
				getCharge(orderID, http.StatusOK, `{"order_id":"`+orderID+`","user_id":"`+adaID+`","amount_cents":2500,"status":"refunded"}`),
				{method: http.MethodGet, path: "/merchant", wantStatus: http.StatusOK, wantBody: `{"balance_cents":500}`},
			},
			wantWallet: 99500,
		},
		{
			name: "a charge repeated after its refund answers its receipt and charges nothing",
			steps: []step{
				chargeStep(orderID, adaID, 2500, http.StatusOK, receipt(orderID, 2500, 97500)),
				refundStep(orderID, refunded(orderID)),
				chargeStep(orderID, adaID, 2500, http.StatusOK, receipt(orderID, 2500, 97500)),
			},
			wantWallet: credit,
		},
		{
			name: "a refund before its charge succeeds empty and blocks the late charge",
			steps: []step{
				refundStep(orderID, noRefund(orderID)),
				chargeStep(orderID, adaID, 2500, http.StatusConflict, "the charge was cancelled"),
				refundStep(orderID, noRefund(orderID)),
				chargeStep(orderID, adaID, 2500, http.StatusConflict, "the charge was cancelled"),
				getCharge(orderID, http.StatusNotFound, "not charged"),
				chargeStep(order2ID, adaID, 500, http.StatusOK, receipt(order2ID, 500, 99500)),
			},
			wantWallet: 99500,
		},
		{
			name: "a refund for a declined charge is empty and blocks its retry",
			steps: []step{
				chargeStep(orderID, adaID, credit+1, http.StatusUnprocessableEntity, "declined: "),
				refundStep(orderID, noRefund(orderID)),
				chargeStep(orderID, adaID, 1, http.StatusConflict, "the charge was cancelled"),
			},
			wantWallet: credit,
		},
		{
			name: "a refund accepts an empty object",
			steps: []step{
				chargeStep(orderID, adaID, 2500, http.StatusOK, receipt(orderID, 2500, 97500)),
				{method: http.MethodPost, path: "/charges/" + orderID + "/refund", body: ` {} `, wantStatus: http.StatusOK, wantBody: refunded(orderID)},
			},
			wantWallet: credit,
		},
		{
			name: "a refund refuses fields and bad ids, and undoes nothing then",
			steps: []step{
				chargeStep(orderID, adaID, 2500, http.StatusOK, receipt(orderID, 2500, 97500)),
				{method: http.MethodPost, path: "/charges/" + orderID + "/refund", body: `{"reason":"x"}`, wantStatus: http.StatusBadRequest, wantDetail: `"reason"`},
				{method: http.MethodPost, path: "/charges/" + orderID + "/refund", body: `[]`, wantStatus: http.StatusBadRequest, wantDetail: "object"},
				{method: http.MethodPost, path: "/charges/" + strings.ToUpper(orderID) + "/refund", wantStatus: http.StatusBadRequest, wantDetail: `"order"`},
				{method: http.MethodPost, path: "/charges/order-1/refund", wantStatus: http.StatusBadRequest, wantDetail: `"order"`},
			},
			wantWallet: 97500,
		},
		{
			name: "reads of charges",
			steps: []step{
				getCharge(orderID, http.StatusNotFound, "not charged"),
				getCharge("order-1", http.StatusBadRequest, `"order"`),
				{method: http.MethodGet, path: "/merchant", wantStatus: http.StatusOK, wantBody: `{"balance_cents":0}`},
				{method: http.MethodDelete, path: "/charges/" + orderID, wantStatus: http.StatusMethodNotAllowed, wantDetail: "DELETE"},
				{method: http.MethodPut, path: "/merchant", wantStatus: http.StatusMethodNotAllowed, wantDetail: "PUT"},
			},
			wantWallet: credit,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := storeWithWallet(t)
			h := newTestServer(store)
			for i, s := range tt.steps {
				w := send(h, s.method, s.path, s.body, nil)
				if s.wantBody != "" {
					require.Equal(t, s.wantStatus, w.Code, "step %d: %s", i, w.Body.String())
					assert.Equal(t, "application/json", w.Header().Get("Content-Type"), "step %d", i)
					assert.JSONEq(t, s.wantBody, w.Body.String(), "step %d", i)
				} else {
					assertProblem(t, w, s.wantStatus, s.wantDetail)
				}
				wallet, merchant := balances(t, store)
				assert.Equal(t, int64(credit), wallet+merchant, "step %d: money conserved", i)
			}
			wallet, _ := balances(t, store)
			assert.Equal(t, tt.wantWallet, wallet)
		})
	}
}

// A repeat answers the first receipt byte for byte, whatever happened to
// the wallet since.
func TestRepeatedChargeAnswersTheSameBytes(t *testing.T) {
	t.Parallel()
	h := newTestServer(storeWithWallet(t))
	first := send(h, http.MethodPost, "/charges/"+orderID, chargeBody(adaID, 2500), nil)
	require.Equal(t, http.StatusOK, first.Code, first.Body.String())
	require.Equal(t, http.StatusOK, send(h, http.MethodPost, "/charges/"+order2ID, chargeBody(adaID, 100), nil).Code)
	again := send(h, http.MethodPost, "/charges/"+orderID, chargeBody(adaID, 2500), nil)
	require.Equal(t, http.StatusOK, again.Code, again.Body.String())
	assert.Equal(t, first.Body.String(), again.Body.String())
}

// The merchant's balance is spread over shards, so that checkouts rarely
// write the same record; it reads as their sum.
func TestMerchantBalanceSumsItsShards(t *testing.T) {
	t.Parallel()
	store := storeWithWallet(t)
	h := newTestServer(store)
	shards := map[int]bool{}
	for i := range 40 {
		order := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		shards[merchantShard(order)] = true
		w := send(h, http.MethodPost, "/charges/"+order, chargeBody(adaID, 100), nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	}
	assert.Greater(t, len(shards), merchantShards/2, "orders spread over the shards")
	w := send(h, http.MethodGet, "/merchant", "", nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.JSONEq(t, `{"balance_cents":4000}`, w.Body.String())
	var inShards int64
	for i := range merchantShards {
		items, err := store.Get(context.Background(), merchantKey(i))
		require.NoError(t, err)
		m, found, err := lookup[merchantAccount](items, merchantKey(i))
		require.NoError(t, err)
		assert.Equal(t, shards[i], found, "shard %d", i)
		inShards += m.value.BalanceCents
	}
	assert.Equal(t, int64(4000), inShards)
}

func TestFaults(t *testing.T) {
	t.Parallel()
	always := func() float64 { return 0 }
	never := func() float64 { return 0.99 }
	tests := []struct {
		name             string
		faults           faults.Faults
		wantCharge       int
		wantRefund       int
		wantChargeDetail string
	}{
		{name: "off", faults: noFaults, wantCharge: http.StatusOK, wantRefund: http.StatusOK},
		{name: "every call fails", faults: faults.Faults{FailureRate: 1, Roll: never}, wantCharge: http.StatusServiceUnavailable, wantRefund: http.StatusServiceUnavailable, wantChargeDetail: "FAULT_FAILURE_RATE"},
		{name: "the roll falls under the rate", faults: faults.Faults{FailureRate: 0.5, Roll: always}, wantCharge: http.StatusServiceUnavailable, wantRefund: http.StatusServiceUnavailable, wantChargeDetail: "FAULT_FAILURE_RATE"},
		{name: "the roll falls above the rate", faults: faults.Faults{FailureRate: 0.5, Roll: never}, wantCharge: http.StatusOK, wantRefund: http.StatusOK},
		{name: "charges fail", faults: faults.Faults{Step: stepCharge, Roll: never}, wantCharge: http.StatusServiceUnavailable, wantRefund: http.StatusOK, wantChargeDetail: "FAULT_STEP"},
		{name: "refunds fail", faults: faults.Faults{Step: stepRefund, Roll: never}, wantCharge: http.StatusOK, wantRefund: http.StatusServiceUnavailable},
		{name: "latency only", faults: faults.Faults{Latency: 20 * time.Millisecond, Roll: always}, wantCharge: http.StatusOK, wantRefund: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := storeWithWallet(t)
			h := newTestServerWithFaults(store, tt.faults)
			began := time.Now()
			charged := send(h, http.MethodPost, "/charges/"+orderID, chargeBody(adaID, 2500), nil)
			assert.Equal(t, tt.wantCharge, charged.Code, charged.Body.String())
			if tt.wantChargeDetail != "" {
				assertProblem(t, charged, tt.wantCharge, tt.wantChargeDetail)
			}
			refund := send(h, http.MethodPost, "/charges/"+orderID+"/refund", "", nil)
			assert.Equal(t, tt.wantRefund, refund.Code, refund.Body.String())
			assert.GreaterOrEqual(t, time.Since(began), 2*tt.faults.Latency, "the latency is added to both calls")

			wallet, merchant := balances(t, store)
			assert.Equal(t, int64(credit), wallet+merchant, "money conserved")
			if tt.wantCharge == http.StatusOK && tt.wantRefund != http.StatusOK {
				assert.Equal(t, int64(credit-2500), wallet, "charged, not refunded")
			} else {
				assert.Equal(t, int64(credit), wallet)
			}
			// A call failed on purpose left nothing behind: without the
			// faults, a refund that failed did not block the charge.
			if tt.wantRefund != http.StatusOK {
				clean := newTestServer(store)
				w := send(clean, http.MethodPost, "/charges/"+order2ID, chargeBody(adaID, 1), nil)
				assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
				w = send(clean, http.MethodPost, "/charges/"+orderID+"/refund", "", nil)
				assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
				if tt.wantCharge == http.StatusOK {
					assert.JSONEq(t, refunded(orderID), w.Body.String())
				} else {
					assert.JSONEq(t, noRefund(orderID), w.Body.String())
				}
			}
			// Health, reads and events are never faulted.
			assert.Equal(t, http.StatusOK, send(h, http.MethodGet, "/merchant", "", nil).Code)
			assert.Equal(t, http.StatusOK, send(h, http.MethodGet, "/users/"+adaID+"/wallet", "", nil).Code)
		})
	}
}

func TestFaultLatencyEndsWithTheCall(t *testing.T) {
	t.Parallel()
	store := storeWithWallet(t)
	h := newTestServerWithFaults(store, faults.Faults{Latency: time.Hour, Roll: func() float64 { return 0 }})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/charges/"+orderID, strings.NewReader(chargeBody(adaID, 1)))
	r.Header.Set(web.AppTokenHeader, testToken)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assertProblem(t, w, http.StatusServiceUnavailable, "injected latency")
	wallet, _ := balances(t, store)
	assert.Equal(t, int64(credit), wallet)
}
