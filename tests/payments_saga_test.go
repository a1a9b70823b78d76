package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The payments side of the checkout saga, driven on the payments app's own
// port with the app token, as its sidecar would call it for the orders
// saga: a charge per order, idempotent, and its refund, which blocks a
// charge that comes late. Money only moves between a wallet and the
// merchant, so their sum never changes.

const walletCredit = 100000 // STARTING_CREDIT_CENTS in dapr/dapr.yaml

// callPayments calls a route of the payments app with the app token.
func callPayments(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	contentType := ""
	if body != "" {
		contentType = "application/json"
	}
	status, _, b := do(t, method, appURL(t, "payments")+path, contentType, strings.NewReader(body),
		map[string]string{"dapr-api-token": sys.Env()["APP_API_TOKEN"]})
	return status, b
}

// paymentsUser registers a user and waits for the wallet that
// user.registered opens.
func paymentsUser(t *testing.T, name string) user {
	t.Helper()
	u := registerUser(t, name)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		status, b := callPayments(t, http.MethodGet, "/users/"+u.ID+"/wallet", "")
		assert.Equal(c, http.StatusOK, status, "%s", b)
	}, 30*time.Second, 100*time.Millisecond, "wallet of user %s", u.ID)
	return u
}

func paymentsBalance(t *testing.T, path string) int64 {
	t.Helper()
	status, b := callPayments(t, http.MethodGet, path, "")
	require.Equal(t, http.StatusOK, status, "%s", b)
	var out struct {
		BalanceCents *int64 `json:"balance_cents"`
	}
	require.NoError(t, json.Unmarshal(b, &out))
	require.NotNil(t, out.BalanceCents, "%s", b)
	return *out.BalanceCents
}

func paymentsWallet(t *testing.T, u user) int64 { return paymentsBalance(t, "/users/"+u.ID+"/wallet") }
func paymentsMerchant(t *testing.T) int64       { return paymentsBalance(t, "/merchant") }

func paymentsCharge(t *testing.T, order, userID string, amount int64) (int, []byte) {
	t.Helper()
	return callPayments(t, http.MethodPost, "/charges/"+order, fmt.Sprintf(`{"user_id":%q,"amount_cents":%d}`, userID, amount))
}

func paymentsRefund(t *testing.T, order string) (int, []byte) {
	t.Helper()
	return callPayments(t, http.MethodPost, "/charges/"+order+"/refund", "")
}

// assertPaymentsProblem checks a problem answer and a part of its detail.
func assertPaymentsProblem(t *testing.T, status int, b []byte, wantStatus int, wantDetail string) {
	t.Helper()
	require.Equal(t, wantStatus, status, "%s", b)
	var p problem
	require.NoError(t, json.Unmarshal(b, &p), "%s", b)
	assert.Equal(t, wantStatus, p.Status)
	assert.Contains(t, p.Detail, wantDetail)
}

// assertMoneyConserved checks that the user's wallet and the merchant hold
// together what they held before, and that the wallet holds want.
func assertMoneyConserved(t *testing.T, u user, before, want int64) {
	t.Helper()
	wallet := paymentsWallet(t, u)
	assert.Equal(t, want, wallet, "wallet")
	assert.Equal(t, before, wallet+paymentsMerchant(t), "wallet + merchant")
}

func TestPaymentsChargeIsIdempotentAndRefundGivesItBack(t *testing.T) {
	skipShort(t)
	u := paymentsUser(t, "Payer")
	order := uuid.NewString()
	before := paymentsWallet(t, u) + paymentsMerchant(t)
	require.Equal(t, int64(walletCredit), paymentsWallet(t, u))

	status, first := paymentsCharge(t, order, u.ID, 2500)
	require.Equal(t, http.StatusOK, status, "%s", first)
	assert.JSONEq(t, fmt.Sprintf(`{"order_id":%q,"user_id":%q,"amount_cents":2500,"status":"charged","balance_cents":97500}`, order, u.ID), string(first))
	assertMoneyConserved(t, u, before, walletCredit-2500)

	status, again := paymentsCharge(t, order, u.ID, 2500)
	require.Equal(t, http.StatusOK, status, "%s", again)
	assert.Equal(t, string(first), string(again), "a repeat answers the first receipt")
	status, b := paymentsCharge(t, order, u.ID, 2600)
	assertPaymentsProblem(t, status, b, http.StatusConflict, "another amount")
	assertMoneyConserved(t, u, before, walletCredit-2500)

	status, b = callPayments(t, http.MethodGet, "/charges/"+order, "")
	require.Equal(t, http.StatusOK, status, "%s", b)
	assert.JSONEq(t, fmt.Sprintf(`{"order_id":%q,"user_id":%q,"amount_cents":2500,"status":"charged"}`, order, u.ID), string(b))

	for range 2 {
		status, b = paymentsRefund(t, order)
		require.Equal(t, http.StatusOK, status, "%s", b)
		assert.JSONEq(t, fmt.Sprintf(`{"order_id":%q,"status":"refunded"}`, order), string(b))
		assertMoneyConserved(t, u, before, walletCredit)
	}
	status, b = callPayments(t, http.MethodGet, "/charges/"+order, "")
	require.Equal(t, http.StatusOK, status, "%s", b)
	assert.JSONEq(t, fmt.Sprintf(`{"order_id":%q,"user_id":%q,"amount_cents":2500,"status":"refunded"}`, order, u.ID), string(b))

	status, b = paymentsCharge(t, order, u.ID, 2500)
	require.Equal(t, http.StatusOK, status, "%s", b)
	assert.Equal(t, string(first), string(b), "a charge repeated after its refund answers its receipt")
	assertMoneyConserved(t, u, before, walletCredit)
}

func TestPaymentsRefundBeforeChargeBlocksTheCharge(t *testing.T) {
	skipShort(t)
	u := paymentsUser(t, "Early")
	order := uuid.NewString()
	before := paymentsWallet(t, u) + paymentsMerchant(t)

	status, b := paymentsRefund(t, order)
	require.Equal(t, http.StatusOK, status, "%s", b)
	assert.JSONEq(t, fmt.Sprintf(`{"order_id":%q,"status":"none"}`, order), string(b))

	status, b = paymentsCharge(t, order, u.ID, 2500)
	assertPaymentsProblem(t, status, b, http.StatusConflict, "the charge was cancelled")
	status, b = callPayments(t, http.MethodGet, "/charges/"+order, "")
	assertPaymentsProblem(t, status, b, http.StatusNotFound, "not charged")
	status, b = paymentsRefund(t, order)
	require.Equal(t, http.StatusOK, status, "%s", b)
	assert.JSONEq(t, fmt.Sprintf(`{"order_id":%q,"status":"none"}`, order), string(b))
	assertMoneyConserved(t, u, before, walletCredit)
}

func TestPaymentsDeclinesAboveTheBalance(t *testing.T) {
	skipShort(t)
	u := paymentsUser(t, "Short")
	before := paymentsWallet(t, u) + paymentsMerchant(t)

	status, b := paymentsCharge(t, uuid.NewString(), u.ID, walletCredit+1)
	assertPaymentsProblem(t, status, b, http.StatusUnprocessableEntity, "declined")
	status, b = paymentsCharge(t, uuid.NewString(), uuid.NewString(), 1)
	assertPaymentsProblem(t, status, b, http.StatusUnprocessableEntity, "declined")
	assertMoneyConserved(t, u, before, walletCredit)

	order := uuid.NewString()
	status, b = paymentsCharge(t, order, u.ID, walletCredit)
	require.Equal(t, http.StatusOK, status, "%s", b)
	assert.Contains(t, string(b), `"balance_cents":0`)
	status, b = paymentsCharge(t, uuid.NewString(), u.ID, 1)
	assertPaymentsProblem(t, status, b, http.StatusUnprocessableEntity, "declined")
	assertMoneyConserved(t, u, before, 0)

	status, b = paymentsRefund(t, order)
	require.Equal(t, http.StatusOK, status, "%s", b)
	assertMoneyConserved(t, u, before, walletCredit)
}

// Access control (dapr/config/payments.yaml): orders may charge and refund
// through its sidecar, and nothing more; nobody else may.
func TestPaymentsAccessControl(t *testing.T) {
	skipShort(t)
	u := paymentsUser(t, "Guarded")
	order := uuid.NewString()
	before := paymentsWallet(t, u) + paymentsMerchant(t)
	invoke := func(via, method, path, body string) (int, []byte) {
		contentType := ""
		if body != "" {
			contentType = "application/json"
		}
		status, _, b := do(t, method, sidecarURL(t, via)+"/v1.0/invoke/payments/method"+path, contentType, strings.NewReader(body),
			map[string]string{"dapr-api-token": sys.Env()["DAPR_API_TOKEN"]})
		return status, b
	}
	body := fmt.Sprintf(`{"user_id":%q,"amount_cents":700}`, u.ID)
	tests := []struct {
		name                string
		via, method, path   string
		body                string
		wantStatus          int
		wantBody, wantInErr string
	}{
		{name: "gateway may not charge", via: "gateway", method: http.MethodPost, path: "/charges/" + order, body: body, wantStatus: http.StatusForbidden, wantInErr: "spiffe://public/ns/default/gateway"},
		{name: "orders charges", via: "orders", method: http.MethodPost, path: "/charges/" + order, body: body, wantStatus: http.StatusOK,
			wantBody: fmt.Sprintf(`{"order_id":%q,"user_id":%q,"amount_cents":700,"status":"charged","balance_cents":%d}`, order, u.ID, walletCredit-700)},
		{name: "orders may not read a charge", via: "orders", method: http.MethodGet, path: "/charges/" + order, wantStatus: http.StatusForbidden, wantInErr: "spiffe://public/ns/default/orders"},
		{name: "orders may not read the merchant", via: "orders", method: http.MethodGet, path: "/merchant", wantStatus: http.StatusForbidden, wantInErr: "spiffe://public/ns/default/orders"},
		{name: "catalog may not refund", via: "catalog", method: http.MethodPost, path: "/charges/" + order + "/refund", wantStatus: http.StatusForbidden, wantInErr: "spiffe://public/ns/default/catalog"},
		{name: "orders refunds", via: "orders", method: http.MethodPost, path: "/charges/" + order + "/refund", wantStatus: http.StatusOK,
			wantBody: fmt.Sprintf(`{"order_id":%q,"status":"refunded"}`, order)},
		{name: "a `**` stands for one segment only", via: "orders", method: http.MethodPost, path: "/charges/a/b/refund", wantStatus: http.StatusForbidden, wantInErr: "access control policy"},
	}
	for _, tt := range tests { // in order: the refund follows the charge
		t.Run(tt.name, func(t *testing.T) {
			status, b := invoke(tt.via, tt.method, tt.path, tt.body)
			require.Equal(t, tt.wantStatus, status, "%s", b)
			if tt.wantBody != "" {
				assert.JSONEq(t, tt.wantBody, string(b))
			}
			if tt.wantInErr != "" {
				assert.Contains(t, string(b), "access control policy has denied access")
				assert.Contains(t, string(b), tt.wantInErr)
			}
		})
	}
	assertMoneyConserved(t, u, before, walletCredit)
}
