package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/daprdtest"
	"github.com/daprshop/daprshop/internal/sidecar"
	"github.com/daprshop/daprshop/internal/state"
)

// testOrderStoreContract is what every orderStore must do; it runs against
// the fake and against the Dapr adapter on a real sidecar.
func testOrderStoreContract(t *testing.T, store orderStore) {
	ctx := context.Background()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	newOrder := func(user string, created time.Time) Order {
		return Order{ID: uuid.NewString(), UserID: user, Status: StatusPending, TotalCents: 100,
			Items: []Item{{ProductID: "p", Name: "P", Quantity: 1, PriceCents: 100}}, CreatedAt: created}
	}

	t.Run("a claim is inserted once and then changed only at its version", func(t *testing.T) {
		t.Parallel()
		user := uuid.NewString()
		_, _, err := store.Claim(ctx, user, "k")
		require.True(t, apperr.Is(err, apperr.NotFound), "got %v", err)

		c := claim{Fingerprint: "f", OrderID: uuid.NewString(), StartedAt: at}
		require.NoError(t, store.PutClaim(ctx, user, "k", c, ""))
		err = store.PutClaim(ctx, user, "k", c, "")
		assert.True(t, apperr.Is(err, apperr.Conflict), "a second insert: %v", err)

		got, v1, err := store.Claim(ctx, user, "k")
		require.NoError(t, err)
		assert.Equal(t, c, got)
		c.StartedAt = at.Add(time.Minute)
		require.NoError(t, store.PutClaim(ctx, user, "k", c, v1))
		err = store.PutClaim(ctx, user, "k", c, v1)
		assert.True(t, apperr.Is(err, apperr.Conflict), "a stale version: %v", err)

		_, v2, err := store.Claim(ctx, user, "k")
		require.NoError(t, err)
		require.NoError(t, store.DeleteClaim(ctx, user, "k", v1), "a stale delete is no error")
		_, _, err = store.Claim(ctx, user, "k")
		require.NoError(t, err, "and deletes nothing")
		require.NoError(t, store.DeleteClaim(ctx, user, "k", v2))
		_, _, err = store.Claim(ctx, user, "k")
		assert.True(t, apperr.Is(err, apperr.NotFound), "got %v", err)

		_, _, err = store.Claim(ctx, uuid.NewString(), "k")
		assert.True(t, apperr.Is(err, apperr.NotFound), "keys are per user: %v", err)
	})

	t.Run("create saves the order, completes the claim and indexes it, once", func(t *testing.T) {
		t.Parallel()
		user := uuid.NewString()
		o := newOrder(user, at)
		c := claim{Fingerprint: "f", OrderID: o.ID, StartedAt: at}
		require.NoError(t, store.PutClaim(ctx, user, "k", c, ""))
		// Keys out of order and spacing: kept byte for byte.
		resp := []byte(`{"id":"` + o.ID + `", "a":1}`)
		require.NoError(t, store.Create(ctx, o, "k", resp))

		got, err := store.Order(ctx, o.ID)
		require.NoError(t, err)
		assert.Equal(t, o, got)
		done := c
		done.Done, done.Response = true, resp
		gotClaim, _, err := store.Claim(ctx, user, "k")
		require.NoError(t, err)
		assert.Equal(t, done, gotClaim)
		idx, err := store.Index(ctx, user)
		require.NoError(t, err)
		assert.Equal(t, []string{indexKey(o)}, idx)

		require.NoError(t, store.PutClaim(ctx, user, "k2", claim{Fingerprint: "g", OrderID: o.ID, StartedAt: at}, ""))
		again := o
		again.TotalCents = 999
		err = store.Create(ctx, again, "k2", []byte(`{}`))
		assert.True(t, apperr.Is(err, apperr.Conflict), "got %v", err)
		got, err = store.Order(ctx, o.ID)
		require.NoError(t, err)
		assert.Equal(t, o, got, "the first order stays")
		gotClaim, _, err = store.Claim(ctx, user, "k2")
		require.NoError(t, err)
		assert.False(t, gotClaim.Done, "nothing of the failed create is written")
	})

	t.Run("create leaves a claim alone that is done, another order's, or gone", func(t *testing.T) {
		t.Parallel()
		user := uuid.NewString()
		o, other := newOrder(user, at), newOrder(user, at.Add(time.Second))
		done := claim{Fingerprint: "f", OrderID: o.ID, StartedAt: at, Done: true, Response: []byte(`"first"`)}
		require.NoError(t, store.PutClaim(ctx, user, "done", done, ""))
		theirs := claim{Fingerprint: "f", OrderID: other.ID, StartedAt: at}
		require.NoError(t, store.PutClaim(ctx, user, "theirs", theirs, ""))

		require.NoError(t, store.Create(ctx, o, "done", []byte(`"second"`)))
		require.NoError(t, store.Create(ctx, newOrder(user, at.Add(2*time.Second)), "theirs", []byte(`"x"`)))
		require.NoError(t, store.Create(ctx, newOrder(user, at.Add(3*time.Second)), "gone", []byte(`"y"`)), "a claim past its TTL")

		got, _, err := store.Claim(ctx, user, "done")
		require.NoError(t, err)
		assert.Equal(t, done, got)
		got, _, err = store.Claim(ctx, user, "theirs")
		require.NoError(t, err)
		assert.Equal(t, theirs, got)
		_, _, err = store.Claim(ctx, user, "gone")
		assert.True(t, apperr.Is(err, apperr.NotFound), "not written: %v", err)
		idx, err := store.Index(ctx, user)
		require.NoError(t, err)
		assert.Len(t, idx, 3, "the orders are saved all the same")
	})

	t.Run("concurrent orders of one user are all indexed", func(t *testing.T) {
		t.Parallel()
		user := uuid.NewString()
		var wg sync.WaitGroup
		orders := make([]Order, 6)
		for i := range orders {
			orders[i] = newOrder(user, at.Add(time.Duration(i)*time.Second))
			wg.Go(func() {
				key := fmt.Sprint("k", i)
				assert.NoError(t, store.PutClaim(ctx, user, key, claim{OrderID: orders[i].ID}, ""))
				assert.NoError(t, store.Create(ctx, orders[i], key, []byte(`{}`)))
			})
		}
		wg.Wait()
		idx, err := store.Index(ctx, user)
		require.NoError(t, err)
		require.Len(t, idx, len(orders), "no lost update")
		for i, k := range idx {
			assert.Equal(t, orders[len(orders)-1-i].ID, orderIDOf(k), "newest first")
		}
	})

	t.Run("orders are read in the order asked, missing ones left out", func(t *testing.T) {
		t.Parallel()
		user := uuid.NewString()
		a, b := newOrder(user, at), newOrder(user, at.Add(time.Second))
		require.NoError(t, store.Create(ctx, a, "", nil))
		require.NoError(t, store.Create(ctx, b, "", nil))
		got, err := store.Orders(ctx, []string{b.ID, uuid.NewString(), a.ID})
		require.NoError(t, err)
		assert.Equal(t, []Order{b, a}, got)
		got, err = store.Orders(ctx, nil)
		require.NoError(t, err)
		assert.Empty(t, got)
		_, err = store.Order(ctx, uuid.NewString())
		assert.True(t, apperr.Is(err, apperr.NotFound), "got %v", err)
		idx, err := store.Index(ctx, uuid.NewString())
		require.NoError(t, err)
		assert.Empty(t, idx)
	})
}

func TestMemoryOrderStoreContract(t *testing.T) {
	t.Parallel()
	testOrderStoreContract(t, newMemOrders())
}

func TestDaprOrderStoreContract(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real daprd")
	}
	t.Parallel()
	sc := daprdtest.Start(t, "orders", daprdtest.StateStore("orders-store"))
	testOrderStoreContract(t, newStateOrderStore(state.NewDaprStore(sc.Client, "orders-store")))
}

// The catalog adapter tells the catalog's own answers from daprd's.
func TestDaprCatalog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		ctype  string
		body   string
		want   product
		kind   apperr.Kind
	}{
		{"found", http.StatusOK, "application/json", `{"id":"p-1","name":"P","price_cents":250,"available":3}`, product{ID: "p-1", Name: "P", PriceCents: 250}, -1},
		{"catalog's 404", http.StatusNotFound, "application/problem+json", `{"status":404}`, product{}, apperr.NotFound},
		{"daprd's 404 (no such app)", http.StatusNotFound, "application/json", `{"errorCode":"ERR_DIRECT_INVOKE"}`, product{}, apperr.Unavailable},
		{"daprd refuses (access control)", http.StatusForbidden, "application/json", `{}`, product{}, apperr.Unavailable},
		{"catalog down", http.StatusServiceUnavailable, "application/problem+json", `{"status":503}`, product{}, apperr.Unavailable},
		{"garbage", http.StatusOK, "application/json", `{`, product{}, apperr.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got *http.Request
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
			cat := newDaprCatalog(sidecar.Config{Host: host, HTTPPort: port, APIToken: "dapr-token"}, "catalog", srv.Client())

			p, err := cat.Product(context.Background(), "p-1")

			require.NotNil(t, got)
			assert.Equal(t, "/products/p-1", got.URL.Path)
			assert.Equal(t, "catalog", got.Header.Get("dapr-app-id"))
			assert.Equal(t, "dapr-token", got.Header.Get(sidecar.TokenHeader))
			if tt.kind < 0 {
				require.NoError(t, err)
				assert.Equal(t, tt.want, p)
				return
			}
			assert.True(t, apperr.Is(err, tt.kind), "got %v", err)
		})
	}
}
