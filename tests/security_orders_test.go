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

// Security classes: another user's orders, idempotency keys.

// secOtherUsersOrders has Eve read, cancel and list Ada's orders, naming Ada
// wherever a careless gateway might take the owner from.
func secOtherUsersOrders(t *testing.T, env *secEnv) {
	tally, gw, ada, eve, target := env.tally, env.gw, env.ada, env.eve, env.target
	eveH := secJSON(eve.Token)
	eveAs := func(extra map[string]string) map[string]string {
		h := secJSON(eve.Token)
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	tests := []struct {
		name, method, path string
		header             map[string]string
		want               int
	}{
		{"read it", http.MethodGet, "/api/v1/orders/" + target.ID, eveH, http.StatusNotFound},
		{"cancel it", http.MethodDelete, "/api/v1/orders/" + target.ID, eveH, http.StatusNotFound},
		{"cancel it, id in upper case", http.MethodDelete, "/api/v1/orders/" + strings.ToUpper(target.ID), eveH, http.StatusBadRequest},
		{"read it, owner named in the query", http.MethodGet, "/api/v1/orders/" + target.ID + "?user=" + ada.ID + "&user_id=" + ada.ID, eveH, http.StatusNotFound},
		{"cancel it, owner named in X-User-Id", http.MethodDelete, "/api/v1/orders/" + target.ID, eveAs(map[string]string{"X-User-Id": ada.ID}), http.StatusNotFound},
		{"list them, owner named in X-User-Id", http.MethodGet, "/api/v1/orders", eveAs(map[string]string{"X-User-Id": ada.ID}), http.StatusOK},
		{"list them, owner named in the query", http.MethodGet, "/api/v1/orders?user=" + ada.ID + "&user_id=" + ada.ID, eveH, http.StatusOK},
		{"list them with a forged cursor", http.MethodGet, "/api/v1/orders?cursor=" + b64.EncodeToString([]byte("v1:0")), eveH, http.StatusOK},
		{"read Ada's profile, X-User-Id", http.MethodGet, "/api/v1/me", eveAs(map[string]string{"X-User-Id": ada.ID}), http.StatusOK},
	}
	for _, tt := range tests {
		tally.attempt(t, tt.name, func(t *testing.T) {
			a := secSend(t, tt.method, gw+tt.path, tt.header, nil)
			if tt.want == http.StatusOK {
				assert.Equal(t, http.StatusOK, a.status, "%s", a.body)
				if strings.HasPrefix(tt.path, "/api/v1/orders") {
					var page struct {
						Items []order `json:"items"`
					}
					assert.NoError(t, json.Unmarshal([]byte(a.body), &page), "%s", a.body)
					assert.Empty(t, page.Items, "Eve has no orders")
				} else {
					assert.Contains(t, a.body, eve.ID)
				}
			} else {
				assertProblem(t, tt.want, a)
			}
			assert.NotContains(t, a.body, ada.ID)
			assert.NotContains(t, a.body, ada.Email)
			assert.NotContains(t, a.body, `"user_id"`, "no order in the answer")
			assert.NotContains(t, a.body, "/users/", "an internal path in the answer")
		})
	}
	// Eve's cancels did nothing: Ada's order ends completed, never
	// refunded or released, and stays so.
	tally.verify(t, "Ada's order is untouched", func(t *testing.T) {
		final := awaitFinal(t, ada, target.ID, 2*time.Minute)
		assert.Equal(t, "completed", final.Status, "%+v", final)
		assert.False(t, final.Has("refund", "done"))
		assert.False(t, final.Has("release", "done"))
		_, before := getAs(t, ada, "/api/v1/orders/"+target.ID)
		a := secSend(t, http.MethodDelete, gw+"/api/v1/orders/"+target.ID, eveH, nil)
		assertProblem(t, http.StatusNotFound, a)
		status, after := getAs(t, ada, "/api/v1/orders/"+target.ID)
		assert.Equal(t, http.StatusOK, status)
		assert.JSONEq(t, string(before), string(after))
	})
}

// secIdempotencyKeys abuses Idempotency-Key: reused with another body,
// borrowed from another user, or malformed. A key must never return or
// change another's order.
func secIdempotencyKeys(t *testing.T, env *secEnv) {
	tally, sc, ada, eve, bob, mallory, pa, pb := env.tally, env.sc, env.ada, env.eve, env.bob, env.mallory, env.pa, env.pb
	// What earlier attacks may have made is not this class's to judge.
	adaBefore, malloryBefore := knownOrders(t, sc, ada), knownOrders(t, sc, mallory)
	key := uuid.NewString()
	one, two := secLineOf(pb, 1), secLineOf(pb, 2)
	status, first := placeOrder(t, ada, key, one)
	require.Equal(t, http.StatusAccepted, status, "%s", first)
	var adas order
	require.NoError(t, json.Unmarshal(first, &adas))
	sc.orders[adas.ID] = ada
	var bobs order

	tally.attempt(t, "the same key with another body", func(t *testing.T) {
		a := secPlaceOrder(t, ada, key, two)
		assertProblem(t, http.StatusUnprocessableEntity, a)
		assert.NotContains(t, a.body, adas.ID)
	})
	tally.attempt(t, "the same key with another product", func(t *testing.T) {
		assertProblem(t, http.StatusUnprocessableEntity, secPlaceOrder(t, ada, key, secLineOf(pa, 1)))
	})
	tally.attempt(t, "the same key with an extra line", func(t *testing.T) {
		assertProblem(t, http.StatusUnprocessableEntity, secPlaceOrder(t, ada, key, fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":1},{"product_id":%q,"quantity":1}]}`, pb.ID, pa.ID)))
	})
	tally.attempt(t, "another user's key, another body", func(t *testing.T) {
		// Keys are the caller's: Ada's key tells Bob nothing (no 422),
		// and makes Bob an order of his own.
		status, b := placeOrder(t, bob, key, two)
		require.Equal(t, http.StatusAccepted, status, "%s", b)
		require.NoError(t, json.Unmarshal(b, &bobs))
		sc.orders[bobs.ID] = bob
		assert.NotEqual(t, adas.ID, bobs.ID)
		assert.Equal(t, bob.ID, bobs.UserID)
		assert.NotContains(t, string(b), ada.ID)
	})
	tally.attempt(t, "another user's key, the owner's body", func(t *testing.T) {
		// Bob's key is now his own order's: another body is his 422.
		a := secPlaceOrder(t, bob, key, one)
		assertProblem(t, http.StatusUnprocessableEntity, a)
		assert.NotContains(t, a.body, adas.ID)
	})
	tally.attempt(t, "a third user's key, the owner's body", func(t *testing.T) {
		// Eve replays Ada's exact request with her own token: no order
		// of Ada's comes back.
		status, b := placeOrder(t, eve, key, one)
		require.Equal(t, http.StatusAccepted, status, "%s", b)
		var eves order
		require.NoError(t, json.Unmarshal(b, &eves))
		sc.orders[eves.ID] = eve
		assert.NotEqual(t, adas.ID, eves.ID)
		assert.Equal(t, eve.ID, eves.UserID)
	})
	for _, k := range []struct{ name, key string }{
		{"a key of 256 characters", strings.Repeat("k", 256)},
		{"a key with a space", "two words"},
		{"a key outside ASCII", "clé-" + uuid.NewString()},
	} {
		tally.attempt(t, k.name, func(t *testing.T) {
			fields := assertProblem(t, http.StatusBadRequest, secPlaceOrder(t, mallory, k.key, one))
			assert.Contains(t, fields, "Idempotency-Key")
			assert.Equal(t, malloryBefore, orderIDs(myOrders(t, mallory)))
		})
	}
	tally.verify(t, "each user has the orders they placed, no more", func(t *testing.T) {
		status, again := placeOrder(t, ada, key, one)
		assert.Equal(t, http.StatusAccepted, status)
		assert.Equal(t, string(first), string(again), "Ada's retry gets her first answer")
		assert.ElementsMatch(t, append(adaBefore, adas.ID), orderIDs(myOrdersAtLeast(t, ada, len(adaBefore)+1)))
		assert.Equal(t, []string{bobs.ID}, orderIDs(myOrdersAtLeast(t, bob, 1)))
		assert.Len(t, myOrdersAtLeast(t, eve, 1), 1)
		assert.Equal(t, malloryBefore, orderIDs(myOrders(t, mallory)))
	})
}
