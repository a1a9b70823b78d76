package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/web"
)

// FuzzDecodePlaceOrder checks that no order body, however hostile, makes
// decoding panic or pass a line that breaks the rules: every refusal is the
// client's, and every accepted order has 1 to 50 distinct, well-formed lines
// with quantities from 1 to 100.
func FuzzDecodePlaceOrder(f *testing.F) {
	f.Add([]byte(oneLine))
	f.Add([]byte(`{"items":[{"product_id":"a","quantity":1},{"product_id":"a","quantity":1}]}`))
	f.Add([]byte(`{"items":[{"product_id":"A","quantity":0}]}`))
	f.Add([]byte(`{"items":[{"product_id":"a","quantity":-9223372036854775808}]}`))
	f.Add([]byte(`{"items":null}`))
	f.Add([]byte(`{"items":[{"product_id":"a-","quantity":1e2}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/users/x/orders", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var req placeOrder
		err := web.Decode(httptest.NewRecorder(), r, &req)
		if err != nil {
			if k := apperr.KindOf(err); k != apperr.Invalid && k != apperr.TooLarge {
				t.Fatalf("body %q: a server fault: %v", body, err)
			}
			return
		}
		if len(req.Items) < 1 || len(req.Items) > maxLines {
			t.Fatalf("body %q: accepted %d lines", body, len(req.Items))
		}
		seen := map[string]bool{}
		for _, l := range req.Items {
			if !validProductID(l.ProductID) || seen[l.ProductID] || l.Quantity < 1 || l.Quantity > maxQuantity {
				t.Fatalf("body %q: accepted line %+v", body, l)
			}
			seen[l.ProductID] = true
		}
		_ = req.fingerprint()
	})
}
