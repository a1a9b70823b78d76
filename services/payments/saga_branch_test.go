package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The payments branch of the checkout saga, step by step: charges, refunds
// and their repeats, in every order.

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
