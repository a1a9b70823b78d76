package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/daprdtest"
	"github.com/daprshop/daprshop/internal/state"
)

// testInboxStoreContract is what every inboxStore must do. It runs against
// the fake the handler tests use and against the Dapr adapter on a real
// sidecar, so that the fake cannot drift from the real thing.
func testInboxStoreContract(t *testing.T, store inboxStore) {
	ctx := context.Background()
	note := func(id string) Notification {
		return Notification{ID: id, Kind: "welcome", Message: "hi " + id, CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	}

	t.Run("first delivery is applied, a redelivery is not", func(t *testing.T) {
		t.Parallel()
		user, ev := uuid.NewString(), "ev-"+uuid.NewString()
		added, err := store.AddOnce(ctx, user, ev, note(ev))
		require.NoError(t, err)
		assert.True(t, added)
		added, err = store.AddOnce(ctx, user, ev, note(ev))
		require.NoError(t, err)
		assert.False(t, added)
		in, err := store.Inbox(ctx, user)
		require.NoError(t, err)
		assert.Equal(t, []Notification{note(ev)}, in.Items)
	})

	t.Run("newest first", func(t *testing.T) {
		t.Parallel()
		user := uuid.NewString()
		for _, ev := range []string{"a", "b", "c"} {
			_, err := store.AddOnce(ctx, user, ev+user, note(ev+user))
			require.NoError(t, err)
		}
		in, err := store.Inbox(ctx, user)
		require.NoError(t, err)
		assert.Equal(t, []Notification{note("c" + user), note("b" + user), note("a" + user)}, in.Items)
	})

	t.Run("unknown user has an empty inbox", func(t *testing.T) {
		t.Parallel()
		in, err := store.Inbox(ctx, uuid.NewString())
		require.NoError(t, err)
		assert.Empty(t, in.Items)
	})

	t.Run("concurrent deliveries of one event apply it once", func(t *testing.T) {
		t.Parallel()
		user, ev := uuid.NewString(), "ev-"+uuid.NewString()
		var wg sync.WaitGroup
		results := make(chan bool, 8)
		for range 8 {
			wg.Go(func() {
				for range 100 {
					added, err := store.AddOnce(ctx, user, ev, note(ev))
					if apperr.Is(err, apperr.Conflict) {
						continue // contention: the subscriber would answer RETRY
					}
					assert.NoError(t, err)
					results <- added
					return
				}
				t.Error("still conflicting after 100 attempts")
			})
		}
		wg.Wait()
		close(results)
		applied := 0
		for r := range results {
			if r {
				applied++
			}
		}
		assert.Equal(t, 1, applied)
		in, err := store.Inbox(ctx, user)
		require.NoError(t, err)
		assert.Len(t, in.Items, 1)
	})

	t.Run("concurrent events for one user lose none", func(t *testing.T) {
		t.Parallel()
		user := uuid.NewString()
		var wg sync.WaitGroup
		for i := range 8 {
			ev := fmt.Sprintf("ev-%d-%s", i, user)
			wg.Go(func() {
				for range 100 {
					_, err := store.AddOnce(ctx, user, ev, note(ev))
					if apperr.Is(err, apperr.Conflict) {
						continue
					}
					assert.NoError(t, err)
					return
				}
				t.Error("still conflicting after 100 attempts")
			})
		}
		wg.Wait()
		in, err := store.Inbox(ctx, user)
		require.NoError(t, err)
		assert.Len(t, in.Items, 8, "no update lost to a concurrent writer")
	})
}

func TestMemoryInboxStoreContract(t *testing.T) {
	t.Parallel()
	testInboxStoreContract(t, newMemInboxes())
}

func TestDaprInboxStoreContract(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real daprd")
	}
	t.Parallel()
	sc := daprdtest.Start(t, "notifications", daprdtest.StateStore("notifications-store"))
	testInboxStoreContract(t, newStateInboxStore(state.NewDaprStore(sc.Client, "notifications-store")))
}
