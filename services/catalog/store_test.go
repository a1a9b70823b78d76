package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/daprdtest"
	"github.com/daprshop/daprshop/internal/state"
)

// uniqueID returns a product id no other test uses, since the subtests
// share one store (and its index).
func uniqueID(name string) string {
	return name + "-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
}

func product(id string, available int64) Product {
	return Product{ID: id, Name: "Product " + id, PriceCents: 1999, Stock: Stock{Available: available}}
}

// assertListedOnce checks that the index is sorted and names each id once.
func assertListedOnce(t *testing.T, index []string, ids ...string) {
	t.Helper()
	assert.True(t, slices.IsSorted(index), "index sorted: %v", index)
	for _, id := range ids {
		n := 0
		for _, got := range index {
			if got == id {
				n++
			}
		}
		assert.Equal(t, 1, n, "%s in the index", id)
	}
}

// testProductStoreContract is what every productStore must do; it runs
// against the fake and against the Dapr adapter on a real sidecar.
func testProductStoreContract(t *testing.T, store productStore) {
	ctx := context.Background()

	t.Run("seeding writes products once and lists them", func(t *testing.T) {
		t.Parallel()
		a, b, c := uniqueID("a"), uniqueID("b"), uniqueID("c")
		require.NoError(t, store.Seed(ctx, []Product{product(b, 5), product(a, 3)}))
		got, err := store.Get(ctx, a)
		require.NoError(t, err)
		assert.Equal(t, product(a, 3), got)

		// Stock moves, then the service restarts and seeds a changed table:
		// the stored product is kept as it is, the new one is added.
		_, err = store.UpdateStock(ctx, a, func(s *Stock) error { return s.Reserve(2) })
		require.NoError(t, err)
		changed := product(a, 100)
		changed.Name = "Renamed"
		require.NoError(t, store.Seed(ctx, []Product{changed, product(b, 5), product(c, 1)}))

		got, err = store.Get(ctx, a)
		require.NoError(t, err)
		assert.Equal(t, Product{ID: a, Name: "Product " + a, PriceCents: 1999, Stock: Stock{Available: 1, Reserved: 2}}, got)
		index, err := store.Index(ctx)
		require.NoError(t, err)
		assertListedOnce(t, index, a, b, c)
	})

	t.Run("concurrent seeds list every product", func(t *testing.T) {
		t.Parallel()
		shared := uniqueID("shared")
		var ids []string
		var wg sync.WaitGroup
		for range 8 {
			id := uniqueID("seeded")
			ids = append(ids, id)
			wg.Go(func() {
				assert.NoError(t, store.Seed(ctx, []Product{product(id, 1), product(shared, 7)}))
			})
		}
		wg.Wait()
		index, err := store.Index(ctx)
		require.NoError(t, err)
		assertListedOnce(t, index, append(ids, shared)...)
		got, err := store.Get(ctx, shared)
		require.NoError(t, err)
		assert.Equal(t, product(shared, 7), got)
	})

	t.Run("an unknown product is not found", func(t *testing.T) {
		t.Parallel()
		_, err := store.Get(ctx, uniqueID("missing"))
		assert.True(t, apperr.Is(err, apperr.NotFound), "got %v", err)
		_, err = store.UpdateStock(ctx, uniqueID("missing"), func(s *Stock) error { return s.Reserve(1) })
		assert.True(t, apperr.Is(err, apperr.NotFound), "got %v", err)
	})

	t.Run("get many returns the products found, in the order asked", func(t *testing.T) {
		t.Parallel()
		a, b := uniqueID("a"), uniqueID("b")
		require.NoError(t, store.Seed(ctx, []Product{product(a, 1), product(b, 2)}))
		got, err := store.GetMany(ctx, []string{b, uniqueID("missing"), a})
		require.NoError(t, err)
		assert.Equal(t, []Product{product(b, 2), product(a, 1)}, got)

		got, err = store.GetMany(ctx, nil)
		require.NoError(t, err)
		assert.Empty(t, got)
	})

	t.Run("a stock change is saved and returned", func(t *testing.T) {
		t.Parallel()
		id := uniqueID("change")
		require.NoError(t, store.Seed(ctx, []Product{product(id, 10)}))
		got, err := store.UpdateStock(ctx, id, func(s *Stock) error {
			if err := s.Reserve(4); err != nil {
				return err
			}
			return s.Confirm(1)
		})
		require.NoError(t, err)
		want := Product{ID: id, Name: "Product " + id, PriceCents: 1999, Stock: Stock{Available: 6, Reserved: 3, Sold: 1}}
		assert.Equal(t, want, got)
		stored, err := store.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, want, stored)
	})

	t.Run("a failed change writes nothing", func(t *testing.T) {
		t.Parallel()
		id := uniqueID("fail")
		require.NoError(t, store.Seed(ctx, []Product{product(id, 2)}))
		_, err := store.UpdateStock(ctx, id, func(s *Stock) error {
			s.Available = 0 // changed, then refused: not saved
			return ErrOutOfStock
		})
		assert.ErrorIs(t, err, ErrOutOfStock)
		got, err := store.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, product(id, 2), got)
	})

	t.Run("concurrent stock changes are all kept", func(t *testing.T) {
		t.Parallel()
		id := uniqueID("race")
		require.NoError(t, store.Seed(ctx, []Product{product(id, 100)}))
		const workers, each = 8, 3
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					// A call may give up after losing every attempt to the
					// others (a conflict); a caller then tries again.
					for try := 0; ; try++ {
						_, err := store.UpdateStock(ctx, id, func(s *Stock) error { return s.Reserve(1) })
						if apperr.Is(err, apperr.Conflict) && try < 100 {
							continue
						}
						assert.NoError(t, err)
						break
					}
				}
			})
		}
		wg.Wait()
		got, err := store.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, Stock{Available: 100 - workers*each, Reserved: workers * each}, got.Stock)
	})

	t.Run("a write between the read and the write is not lost", func(t *testing.T) {
		t.Parallel()
		id := uniqueID("between")
		require.NoError(t, store.Seed(ctx, []Product{product(id, 10)}))
		calls := 0
		got, err := store.UpdateStock(ctx, id, func(s *Stock) error {
			calls++
			if calls == 1 { // another writer gets in after our read
				_, err := store.UpdateStock(ctx, id, func(s *Stock) error { return s.Reserve(2) })
				require.NoError(t, err)
			}
			return s.Reserve(1)
		})
		require.NoError(t, err)
		assert.Equal(t, 2, calls, "the change ran again on the fresh record")
		assert.Equal(t, Stock{Available: 7, Reserved: 3}, got.Stock)
	})

	t.Run("a receipt is counted once however often and however concurrently it is sent", func(t *testing.T) {
		t.Parallel()
		id := uniqueID("receipts")
		require.NoError(t, store.Seed(ctx, []Product{product(id, 10)}))
		const receipts, copies = 4, 3 // each receipt sent by three racing requests
		var wg sync.WaitGroup
		for r := range receipts {
			for range copies {
				wg.Go(func() {
					for try := 0; ; try++ {
						_, err := store.Receive(ctx, id, Receipt{ID: fmt.Sprintf("dn-%d", r), Units: int64(r + 1)})
						if apperr.Is(err, apperr.Conflict) && try < 100 {
							continue
						}
						assert.NoError(t, err)
						return
					}
				})
			}
		}
		wg.Wait()
		got, err := store.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, Stock{Available: 10 + 1 + 2 + 3 + 4}, got.Stock)

		_, err = store.Receive(ctx, id, Receipt{ID: "dn-0", Units: 7})
		assert.True(t, apperr.Is(err, apperr.Conflict), "the same receipt with other units: %v", err)
		_, err = store.Receive(ctx, uniqueID("missing"), Receipt{ID: "dn-0", Units: 1})
		assert.True(t, apperr.Is(err, apperr.NotFound), "got %v", err)
		got, err = store.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, Stock{Available: 20}, got.Stock, "neither changed anything")
	})

	t.Run("a product changed under every attempt is a conflict", func(t *testing.T) {
		t.Parallel()
		id := uniqueID("busy")
		require.NoError(t, store.Seed(ctx, []Product{product(id, 100)}))
		calls := 0
		_, err := store.UpdateStock(ctx, id, func(s *Stock) error {
			calls++
			_, err := store.UpdateStock(ctx, id, func(s *Stock) error { return s.Reserve(1) })
			require.NoError(t, err)
			return s.Reserve(50)
		})
		assert.True(t, apperr.Is(err, apperr.Conflict), "got %v", err)
		assert.Equal(t, stockAttempts, calls)
		got, err := store.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, Stock{Available: 100 - stockAttempts, Reserved: stockAttempts}, got.Stock, "only the other writer's changes")
	})
}

func TestMemoryProductStoreContract(t *testing.T) {
	t.Parallel()
	testProductStoreContract(t, newMemProducts())
}

func TestDaprProductStoreContract(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real daprd")
	}
	t.Parallel()
	sc := daprdtest.Start(t, "catalog", daprdtest.StateStore("catalog-store"))
	testProductStoreContract(t, newStateProductStore(state.NewDaprStore(sc.Client, "catalog-store")))
}
