package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/daprdtest"
	"github.com/daprshop/daprshop/internal/state"
)

// testUserStoreContract is what every userStore must do. It runs against
// the fake the handler tests use and against the Dapr adapter on a real
// sidecar whose store has the transactional outbox on, as in every profile,
// over a real broker (daprdtest.PubSub says why not an in-process one).
// published returns the events the store has published so far, in order.
func testUserStoreContract(t *testing.T, store userStore, published func(require.TestingT) []UserRegistered) {
	ctx := context.Background()
	newUser := func() (User, UserRegistered) {
		u := User{ID: uuid.NewString(), Email: "ada@example.com", Name: "Ada", CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
		return u, UserRegistered{UserID: u.ID, Email: u.Email, Name: u.Name, RegisteredAt: u.CreatedAt}
	}

	t.Run("created user reads back as the user, not as its event", func(t *testing.T) {
		u, ev := newUser()
		require.NoError(t, store.Create(ctx, u, ev))
		got, err := store.Get(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, u, got)
	})

	t.Run("a created user's event is published as it was given", func(t *testing.T) {
		u, ev := newUser()
		u.Email, ev.Email = "grace@example.com", "grace@example.com"
		require.NoError(t, store.Create(ctx, u, ev))
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			assert.Contains(c, published(c), ev)
		}, 30*time.Second, 50*time.Millisecond)
	})

	t.Run("creating an existing id is a conflict", func(t *testing.T) {
		u, ev := newUser()
		require.NoError(t, store.Create(ctx, u, ev))
		other := u
		other.Name = "Impostor"
		err := store.Create(ctx, other, ev)
		assert.True(t, apperr.Is(err, apperr.Conflict), "got %v", err)
		got, err := store.Get(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, "Ada", got.Name, "the first user is kept")
	})

	// A create that fails publishes nothing, and events of later users
	// still leave. (On daprd 1.18.2 a failed outbox transaction would stop
	// every later event of the store: the adapter refuses a conflicting
	// create before any transaction; docs/dapr-notes.md.)
	t.Run("a failed create publishes nothing, and later events still leave", func(t *testing.T) {
		u, ev := newUser()
		u.Email, ev.Email = "linus@example.com", "linus@example.com"
		require.NoError(t, store.Create(ctx, u, ev))
		impostor, impostorEv := u, ev
		impostor.Name, impostorEv.Name = "Impostor", "Impostor"
		require.True(t, apperr.Is(store.Create(ctx, impostor, impostorEv), apperr.Conflict))

		later, laterEv := newUser()
		later.Email, laterEv.Email = "barbara@example.com", "barbara@example.com"
		require.NoError(t, store.Create(ctx, later, laterEv))
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			assert.Contains(c, published(c), laterEv)
		}, time.Minute, 50*time.Millisecond, "a later user's event is published")
		got := published(t)
		assert.Contains(t, got, ev)
		assert.NotContains(t, got, impostorEv, "the failed transaction's event")
	})

	t.Run("an email belongs to one user", func(t *testing.T) {
		u, ev := newUser()
		u.Email = uuid.NewString() + "@example.com"
		now := u.CreatedAt
		require.NoError(t, store.ReserveEmail(ctx, u.Email, u.ID, now))
		_, err := store.FindByEmail(ctx, u.Email)
		assert.True(t, apperr.Is(err, apperr.NotFound), "reserved but not created yet: %v", err)
		require.NoError(t, store.Create(ctx, u, ev))
		found, err := store.FindByEmail(ctx, u.Email)
		require.NoError(t, err)
		assert.Equal(t, u, found)

		err = store.ReserveEmail(ctx, u.Email, uuid.NewString(), now.Add(time.Hour))
		assert.True(t, apperr.Is(err, apperr.Conflict), "taken by an existing user, however late: %v", err)
	})

	t.Run("an abandoned reservation expires", func(t *testing.T) {
		email, first, second := uuid.NewString()+"@example.com", uuid.NewString(), uuid.NewString()
		now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
		require.NoError(t, store.ReserveEmail(ctx, email, first, now))
		err := store.ReserveEmail(ctx, email, second, now.Add(reservationTTL/2))
		assert.True(t, apperr.Is(err, apperr.Conflict), "in progress: %v", err)
		require.NoError(t, store.ReserveEmail(ctx, email, second, now.Add(reservationTTL+time.Second)), "taken over once expired")
	})

	t.Run("only the holder releases a reservation", func(t *testing.T) {
		email, holder, other := uuid.NewString()+"@example.com", uuid.NewString(), uuid.NewString()
		now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
		require.NoError(t, store.ReserveEmail(ctx, email, holder, now))
		require.NoError(t, store.ReleaseEmail(ctx, email, other))
		assert.True(t, apperr.Is(store.ReserveEmail(ctx, email, other, now), apperr.Conflict), "still held")
		require.NoError(t, store.ReleaseEmail(ctx, email, holder))
		assert.NoError(t, store.ReserveEmail(ctx, email, other, now), "free after its holder released it")
	})

	t.Run("unknown id is not found", func(t *testing.T) {
		_, err := store.Get(ctx, uuid.NewString())
		assert.True(t, apperr.Is(err, apperr.NotFound), "got %v", err)
	})
}

func TestMemoryUserStoreContract(t *testing.T) {
	t.Parallel()
	store := newMemUsers()
	testUserStoreContract(t, store, func(require.TestingT) []UserRegistered { return store.events() })
}

func TestDaprUserStoreContract(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real daprd")
	}
	t.Parallel()
	broker := daprdtest.StartBroker(t, "user.registered", "defaultusersuser.registeredoutbox")
	sc := daprdtest.Start(t, "users",
		daprdtest.StateStore("users-store", daprdtest.WithOutbox("pubsub", "user.registered")),
		broker.Component("pubsub"))
	testUserStoreContract(t, newStateUserStore(state.NewDaprStore(sc.Client, "users-store")), func(t require.TestingT) []UserRegistered {
		var out []UserRegistered
		for _, data := range broker.Published(t, "user.registered") {
			var ev UserRegistered
			require.NoError(t, json.Unmarshal(data, &ev), "%s", data)
			out = append(out, ev)
		}
		return out
	})
}
