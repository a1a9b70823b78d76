package main

import (
	"net/http"
	"testing"
)

// FuzzChargeOrder checks that no charge body, however hostile, makes the
// handler panic, answer a server fault, or create or lose money: every
// answer is a 200 or the client's problem, and ada's wallet and the
// merchant hold her starting credit together.
func FuzzChargeOrder(f *testing.F) {
	f.Add(chargeBody(adaID, 2500))
	f.Add(chargeBody(adaID, credit))
	f.Add(chargeBody(adaID, credit+1))
	f.Add(chargeBody(bobID, 1))
	f.Add(`{"user_id":"` + adaID + `","amount_cents":-9223372036854775808}`)
	f.Add(`{"user_id":"` + adaID + `","amount_cents":1e3}`)
	f.Add(`{"user_id":"` + adaID + `","amount_cents":1,"AMOUNT_CENTS":2}`)
	f.Add(`{"user_id":null,"amount_cents":null}`)
	f.Fuzz(func(t *testing.T, body string) {
		store := storeWithWallet(t)
		h := newTestServer(store)
		for range 2 { // a repeat must agree with the first answer's money
			w := send(h, http.MethodPost, "/charges/"+orderID, body, nil)
			switch w.Code {
			case http.StatusOK, http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			default:
				t.Fatalf("body %q: answered %d: %s", body, w.Code, w.Body.String())
			}
		}
		if wallet, merchant := balances(t, store); wallet+merchant != credit || wallet < 0 {
			t.Fatalf("body %q: wallet %d + merchant %d, want %d together", body, wallet, merchant, credit)
		}
	})
}
