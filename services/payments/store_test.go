package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/daprdtest"
)

// testWalletStoreContract is what every walletStore must do; it runs
// against the fake and against the Dapr adapter on a real sidecar.
func testWalletStoreContract(t *testing.T, store walletStore) {
	ctx := context.Background()
	opened := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

	t.Run("a wallet opens once; the first one is kept", func(t *testing.T) {
		t.Parallel()
		user := uuid.NewString()
		ok, err := store.Open(ctx, Wallet{UserID: user, BalanceCents: 500, OpenedAt: opened})
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = store.Open(ctx, Wallet{UserID: user, BalanceCents: 999, OpenedAt: opened})
		require.NoError(t, err)
		assert.False(t, ok)
		got, err := store.Get(ctx, user)
		require.NoError(t, err)
		assert.Equal(t, Wallet{UserID: user, BalanceCents: 500, OpenedAt: opened}, got)
	})

	t.Run("concurrent opens open one wallet", func(t *testing.T) {
		t.Parallel()
		user := uuid.NewString()
		var wg sync.WaitGroup
		var mu sync.Mutex
		count := 0
		for range 8 {
			wg.Go(func() {
				ok, err := store.Open(ctx, Wallet{UserID: user, BalanceCents: 500, OpenedAt: opened})
				assert.NoError(t, err)
				if ok {
					mu.Lock()
					count++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		assert.Equal(t, 1, count)
	})

	t.Run("no wallet is not found", func(t *testing.T) {
		t.Parallel()
		_, err := store.Get(ctx, uuid.NewString())
		assert.True(t, apperr.Is(err, apperr.NotFound), "got %v", err)
	})
}

func TestFakeWalletStoreContract(t *testing.T) {
	t.Parallel()
	testWalletStoreContract(t, newFakeWalletStore())
}

func TestDaprWalletStoreContract(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real daprd")
	}
	t.Parallel()
	sc := daprdtest.Start(t, "payments", `
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: payments-store
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      value: "{{dir}}/payments.db"
    - name: busyTimeout
      value: 2s
`)
	testWalletStoreContract(t, newDaprWalletStore(sc.Client, "payments-store"))
}
