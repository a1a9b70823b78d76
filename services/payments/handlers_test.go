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
	"github.com/daprshop/daprshop/internal/state"
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

func newTestServer(store state.Store) http.Handler {
	return newTestServerWithFaults(store, noFaults)
}

func newTestServerWithFaults(store state.Store, f faults.Faults) http.Handler {
	return newServer(discard, newService(store, fixedNow, credit), f, ready, testToken)
}

// storeWithWallet returns a store in which ada's wallet holds the starting
// credit and the merchant nothing.
func storeWithWallet(t *testing.T) *state.MemoryStore {
	t.Helper()
	store := state.NewMemoryStore()
	opened, err := newService(store, fixedNow, credit).OpenWallet(context.Background(), adaID)
	require.NoError(t, err)
	require.True(t, opened)
	return store
}

// balances returns ada's wallet (0 if she has none) and the merchant's
// balance.
func balances(t *testing.T, store state.Store) (wallet, merchant int64) {
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
	store := state.NewMemoryStore()
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
			store := state.NewMemoryStore()
			store.Fail(tt.storeErr)
			w := httptest.NewRecorder()
			newTestServer(store).ServeHTTP(w, eventRequest(tt.body))
			assert.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, `{"status":"`+tt.want+`"}`, w.Body.String())
			store.Fail(nil)
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
			store.Fail(tt.storeErr)
			w := send(newTestServer(store), http.MethodPost, "/charges/"+tt.order, tt.body, tt.header)
			assertProblem(t, w, tt.wantStatus, tt.wantDetail)

			store.Fail(nil)
			wallet, merchant := balances(t, store)
			assert.Equal(t, int64(credit), wallet, "the wallet is untouched")
			assert.Equal(t, int64(0), merchant)
			items, err := store.Get(context.Background(), chargeKey(orderID), barrier.Key(orderID, chargeBranch, barrier.Try))
			require.NoError(t, err)
			assert.Empty(t, items, "no charge and no barrier record: a retry may charge")
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
		m, err := state.Lookup[merchantAccount](items, merchantKey(i))
		require.NoError(t, err)
		assert.Equal(t, shards[i], m.Found, "shard %d", i)
		inShards += m.Value.BalanceCents
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
