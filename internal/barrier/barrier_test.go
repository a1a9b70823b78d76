package barrier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/daprshop/daprshop/internal/barrier"
	"github.com/daprshop/daprshop/internal/daprdtest"
)

var now = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }

// counter is a business record: a number changed under its ETag.
type counter struct {
	store barrier.Store
	key   string
	runs  atomic.Int64 // how often a work function ran
}

// add returns work that adds n to the counter and reports the new value.
func (c *counter) add(n int) barrier.Work {
	return func(ctx context.Context) (json.RawMessage, []barrier.Op, error) {
		c.runs.Add(1)
		items, err := c.store.Get(ctx, c.key)
		if err != nil {
			return nil, nil, err
		}
		v, op := 0, barrier.Op{Key: c.key, Insert: true}
		if it, ok := items[c.key]; ok {
			if v, err = strconv.Atoi(string(it.Value)); err != nil {
				return nil, nil, err
			}
			op = barrier.Op{Key: c.key, ETag: it.ETag}
		}
		v += n
		op.Value = []byte(strconv.Itoa(v))
		return json.RawMessage(strconv.Itoa(v)), []barrier.Op{op}, nil
	}
}

func (c *counter) value(t *testing.T) int {
	t.Helper()
	items, err := c.store.Get(context.Background(), c.key)
	require.NoError(t, err)
	if _, ok := items[c.key]; !ok {
		return 0
	}
	v, err := strconv.Atoi(string(items[c.key].Value))
	require.NoError(t, err)
	return v
}

// testBarrier is what the barrier guarantees, on a given store.
func testBarrier(t *testing.T, store barrier.Store) {
	ctx := context.Background()
	b := barrier.New(store, now)
	newCounter := func() *counter { return &counter{store: store, key: "count-" + uuid.NewString()} }

	t.Run("a repeated try is a no-op with the first result", func(t *testing.T) {
		t.Parallel()
		c, gid := newCounter(), uuid.NewString()
		out, err := b.Do(ctx, gid, "charge", barrier.Try, c.add(5))
		require.NoError(t, err)
		assert.Equal(t, barrier.Outcome{Result: json.RawMessage("5")}, out)
		again, err := b.Do(ctx, gid, "charge", barrier.Try, c.add(5))
		require.NoError(t, err)
		assert.Equal(t, barrier.Outcome{Result: json.RawMessage("5"), Replayed: true}, again)
		assert.Equal(t, 5, c.value(t))
		assert.Equal(t, int64(1), c.runs.Load())
	})

	t.Run("a failed try writes nothing and runs again", func(t *testing.T) {
		t.Parallel()
		c, gid := newCounter(), uuid.NewString()
		declined := errors.New("declined")
		_, err := b.Do(ctx, gid, "charge", barrier.Try, func(context.Context) (json.RawMessage, []barrier.Op, error) { return nil, nil, declined })
		assert.ErrorIs(t, err, declined)
		out, err := b.Do(ctx, gid, "charge", barrier.Try, c.add(1))
		require.NoError(t, err)
		assert.False(t, out.Replayed)
		assert.Equal(t, 1, c.value(t))
	})

	t.Run("a cancel undoes its try, once", func(t *testing.T) {
		t.Parallel()
		c, gid := newCounter(), uuid.NewString()
		_, err := b.Do(ctx, gid, "reserve", barrier.Try, c.add(3))
		require.NoError(t, err)
		out, err := b.Do(ctx, gid, "reserve", barrier.Cancel, c.add(-3))
		require.NoError(t, err)
		assert.Equal(t, barrier.Outcome{Result: json.RawMessage("0")}, out)
		out, err = b.Do(ctx, gid, "reserve", barrier.Cancel, c.add(-3))
		require.NoError(t, err)
		assert.True(t, out.Replayed)
		assert.Equal(t, 0, c.value(t))
	})

	t.Run("a cancel before its try succeeds empty and blocks the late try", func(t *testing.T) {
		t.Parallel()
		c, gid := newCounter(), uuid.NewString()
		out, err := b.Do(ctx, gid, "reserve", barrier.Cancel, c.add(-3))
		require.NoError(t, err)
		assert.Equal(t, barrier.Outcome{Empty: true}, out)
		late, err := b.Do(ctx, gid, "reserve", barrier.Try, c.add(3))
		require.NoError(t, err)
		assert.Equal(t, barrier.Outcome{Replayed: true, Blocked: true}, late)
		again, err := b.Do(ctx, gid, "reserve", barrier.Cancel, c.add(-3))
		require.NoError(t, err)
		assert.Equal(t, barrier.Outcome{Replayed: true, Empty: true}, again)
		assert.Equal(t, 0, c.value(t))
		assert.Equal(t, int64(0), c.runs.Load(), "no business change ran")
		_, err = b.Do(ctx, gid, "reserve", barrier.Confirm, c.add(0))
		assert.ErrorIs(t, err, barrier.ErrNoTry, "a blocked try cannot be confirmed")
	})

	t.Run("confirm needs its try and runs once", func(t *testing.T) {
		t.Parallel()
		c, gid := newCounter(), uuid.NewString()
		_, err := b.Do(ctx, gid, "reserve", barrier.Confirm, c.add(10))
		assert.ErrorIs(t, err, barrier.ErrNoTry)
		_, err = b.Do(ctx, gid, "reserve", barrier.Try, c.add(1))
		require.NoError(t, err)
		for range 3 {
			_, err = b.Do(ctx, gid, "reserve", barrier.Confirm, c.add(10))
			require.NoError(t, err)
		}
		assert.Equal(t, 11, c.value(t))

		undone := uuid.NewString()
		_, err = b.Do(ctx, undone, "reserve", barrier.Try, c.add(1))
		require.NoError(t, err)
		_, err = b.Do(ctx, undone, "reserve", barrier.Cancel, c.add(-1))
		require.NoError(t, err)
		_, err = b.Do(ctx, undone, "reserve", barrier.Confirm, c.add(10))
		assert.ErrorIs(t, err, barrier.ErrNoTry, "an undone try cannot be confirmed")
		assert.Equal(t, 11, c.value(t))
	})

	t.Run("branches and gids are apart", func(t *testing.T) {
		t.Parallel()
		c, gid := newCounter(), uuid.NewString()
		for _, g := range []string{gid, uuid.NewString()} {
			for _, branch := range []string{"reserve", "charge"} {
				_, err := b.Do(ctx, g, branch, barrier.Try, c.add(1))
				require.NoError(t, err)
			}
		}
		assert.Equal(t, 4, c.value(t))
	})

	t.Run("concurrent repeats of a try apply once", func(t *testing.T) {
		t.Parallel()
		c, gid := newCounter(), uuid.NewString()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				out, err := b.Do(ctx, gid, "charge", barrier.Try, c.add(7))
				if assert.NoError(t, err) {
					assert.JSONEq(t, "7", string(out.Result))
				}
			})
		}
		wg.Wait()
		assert.Equal(t, 7, c.value(t))
	})

	t.Run("a try racing its cancel nets zero and never goes negative", func(t *testing.T) {
		t.Parallel()
		for i := range 10 {
			c, gid := newCounter(), uuid.NewString()
			var wg sync.WaitGroup
			var try, cancel barrier.Outcome
			wg.Go(func() {
				var err error
				try, err = b.Do(ctx, gid, "reserve", barrier.Try, c.add(2))
				assert.NoError(t, err)
			})
			wg.Go(func() {
				var err error
				cancel, err = b.Do(ctx, gid, "reserve", barrier.Cancel, c.add(-2))
				assert.NoError(t, err)
			})
			wg.Wait()
			// Whichever came first, the other is consistent with it; a try
			// that landed after an empty cancel would leave 2.
			if cancel.Empty {
				assert.True(t, try.Blocked, "round %d: the try came late and was blocked", i)
				assert.Equal(t, 0, c.value(t), "round %d", i)
			} else {
				assert.False(t, try.Blocked, "round %d", i)
				assert.Equal(t, 0, c.value(t), "round %d", i)
			}
		}
	})

	t.Run("names are checked", func(t *testing.T) {
		t.Parallel()
		c := newCounter()
		_, err := b.Do(ctx, "", "charge", barrier.Try, c.add(1))
		assert.Error(t, err)
		_, err = b.Do(ctx, uuid.NewString(), "a b", barrier.Try, c.add(1))
		assert.Error(t, err)
		_, err = b.Do(ctx, uuid.NewString(), "charge", barrier.Kind("undo"), c.add(1))
		assert.Error(t, err)
		assert.Equal(t, 0, c.value(t))
	})
}

// testStore is what every Store must do.
func testStore(t *testing.T, store barrier.Store) {
	ctx := context.Background()
	t.Run("insert-only, ETags, all or nothing", func(t *testing.T) {
		t.Parallel()
		a, b := "a-"+uuid.NewString(), "b-"+uuid.NewString()
		require.NoError(t, store.Transact(ctx, []barrier.Op{{Key: a, Value: []byte(`1`), Insert: true}}))
		err := store.Transact(ctx, []barrier.Op{{Key: a, Value: []byte(`2`), Insert: true}})
		assert.ErrorIs(t, err, barrier.ErrConflict, "insert of an existing key")

		items, err := store.Get(ctx, a, b)
		require.NoError(t, err)
		require.Contains(t, items, a)
		assert.NotContains(t, items, b)
		etag := items[a].ETag
		assert.JSONEq(t, `1`, string(items[a].Value))

		err = store.Transact(ctx, []barrier.Op{
			{Key: b, Value: []byte(`1`), Insert: true},
			{Key: a, Value: []byte(`3`), ETag: "999999"},
		})
		assert.ErrorIs(t, err, barrier.ErrConflict, "a stale ETag")
		items, err = store.Get(ctx, a, b)
		require.NoError(t, err)
		assert.NotContains(t, items, b, "nothing of a failed transaction is written")

		require.NoError(t, store.Transact(ctx, []barrier.Op{{Key: a, Value: []byte(`4`), ETag: etag}}))
		err = store.Transact(ctx, []barrier.Op{{Key: a, Value: []byte(`5`), ETag: etag}})
		assert.ErrorIs(t, err, barrier.ErrConflict, "an ETag used twice")

		require.NoError(t, store.Transact(ctx, []barrier.Op{{Key: a, Delete: true}, {Key: b, Value: []byte(`2`)}}))
		items, err = store.Get(ctx, a, b)
		require.NoError(t, err)
		assert.NotContains(t, items, a)
		assert.JSONEq(t, `2`, string(items[b].Value))
	})
}

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	store := barrier.NewMemoryStore()
	testStore(t, store)
	testBarrier(t, store)
}

func TestMemoryStoreErr(t *testing.T) {
	t.Parallel()
	store := barrier.NewMemoryStore()
	store.Err = errors.New("down")
	_, err := barrier.New(store, now).Do(context.Background(), "g", "b", barrier.Try, nil)
	assert.EqualError(t, err, "down")
}

func TestDaprStore(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real daprd")
	}
	t.Parallel()
	sc := daprdtest.Start(t, "barrier", `
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: store
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      value: "{{dir}}/barrier.db"
    - name: busyTimeout
      value: 2s
`)
	store := barrier.NewDaprStore(sc.Client, "store")
	testStore(t, store)
	testBarrier(t, store)
}

func ExampleBarrier_Do() {
	store := barrier.NewMemoryStore()
	b := barrier.New(store, time.Now)
	charge := func(context.Context) (json.RawMessage, []barrier.Op, error) {
		return json.RawMessage(`{"charged":500}`), []barrier.Op{{Key: "wallet-ada", Value: []byte(`{"balance":500}`)}}, nil
	}
	for range 2 {
		out, _ := b.Do(context.Background(), "order-1", "charge", barrier.Try, charge)
		fmt.Println(string(out.Result), out.Replayed)
	}
	// Output:
	// {"charged":500} false
	// {"charged":500} true
}

// contended is a store on which every transaction loses a race.
type contended struct{ *barrier.MemoryStore }

func (contended) Transact(context.Context, []barrier.Op) error { return barrier.ErrConflict }

func TestDoBacksOffThenGivesUp(t *testing.T) {
	t.Parallel()
	var pauses atomic.Int64
	b := barrier.New(contended{barrier.NewMemoryStore()}, now, barrier.WithBackoff(func(int) time.Duration { pauses.Add(1); return 0 }))
	noop := func(context.Context) (json.RawMessage, []barrier.Op, error) { return nil, nil, nil }
	_, err := b.Do(context.Background(), "g", "b", barrier.Try, noop)
	assert.ErrorIs(t, err, barrier.ErrConflict)
	assert.Equal(t, int64(63), pauses.Load(), "64 attempts, a pause between each")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = barrier.New(contended{barrier.NewMemoryStore()}, now).Do(ctx, "g", "b", barrier.Try, noop)
	assert.ErrorIs(t, err, barrier.ErrConflict)
	assert.ErrorIs(t, err, context.Canceled, "a caller gone stops the retries")
}

func TestBackoffGrowsAndStaysBounded(t *testing.T) {
	t.Parallel()
	for attempt := 1; attempt <= 100; attempt++ {
		d := barrier.Backoff(attempt)
		ceiling := min(time.Millisecond<<min(attempt-1, 6), 50*time.Millisecond)
		assert.GreaterOrEqual(t, d, ceiling/2, "attempt %d", attempt)
		assert.LessOrEqual(t, d, ceiling, "attempt %d", attempt)
	}
}

// failingTx is a Dapr client whose state transactions all fail with err.
type failingTx struct {
	dapr.Client
	err error
}

func (f failingTx) ExecuteStateTransaction(context.Context, string, map[string]string, []*dapr.StateOperation) error {
	return f.err
}

// How the Dapr store reports each way a transaction can fail: the races
// (an ETag, or a rollback to break a lock conflict) as ErrConflict, which
// the barrier runs again; anything else as an error of its own.
func TestDaprStoreTransactFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		err      error
		conflict bool
	}{
		{"etag mismatch", status.Error(codes.Aborted, "possible etag mismatch"), true},
		{"deadlock", status.Error(codes.Internal, "error while executing state transaction: Error 1213 (40001): Deadlock found when trying to get lock; try restarting transaction"), true},
		{"lock wait timeout", status.Error(codes.Internal, "Error 1205 (HY000): Lock wait timeout exceeded; try restarting transaction"), true},
		{"store down", status.Error(codes.Unavailable, "connection refused"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := barrier.NewDaprStore(failingTx{err: tc.err}, "store")
			err := store.Transact(t.Context(), []barrier.Op{{Key: "k", Value: []byte(`1`)}})
			require.Error(t, err)
			assert.Equal(t, tc.conflict, errors.Is(err, barrier.ErrConflict), "%v", err)
		})
	}
}

// Every replayed op is logged once, with what names it; a first run, an
// empty cancel and a failed try are not replays.
func TestWithLoggerLogsReplays(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	store := barrier.NewMemoryStore()
	b := barrier.New(store, now, barrier.WithLogger(logger))
	c := &counter{store: store, key: "n"}
	ctx := context.Background()

	_, err := b.Do(ctx, "order-1", "charge", barrier.Try, c.add(1)) // first run
	require.NoError(t, err)
	_, err = b.Do(ctx, "order-2", "charge", barrier.Cancel, c.add(-1)) // empty cancel
	require.NoError(t, err)
	_, err = b.Do(ctx, "order-3", "charge", barrier.Try, func(context.Context) (json.RawMessage, []barrier.Op, error) {
		return nil, nil, errors.New("declined")
	})
	require.Error(t, err)
	assert.Empty(t, buf.String(), "nothing replayed yet")

	for range 2 {
		out, err := b.Do(ctx, "order-1", "charge", barrier.Try, c.add(1))
		require.NoError(t, err)
		require.True(t, out.Replayed)
	}
	out, err := b.Do(ctx, "order-2", "charge", barrier.Try, c.add(1)) // blocked by its cancel
	require.NoError(t, err)
	require.True(t, out.Blocked)

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		lines = append(lines, m)
	}
	require.Len(t, lines, 3)
	for i, want := range []struct {
		gid     string
		blocked bool
	}{{"order-1", false}, {"order-1", false}, {"order-2", true}} {
		assert.Equal(t, "barrier op replayed", lines[i]["msg"])
		assert.Equal(t, want.gid, lines[i]["gid"])
		assert.Equal(t, "charge", lines[i]["branch"])
		assert.Equal(t, "try", lines[i]["op"])
		assert.Equal(t, want.blocked, lines[i]["blocked"])
	}
	assert.Equal(t, int64(1), c.runs.Load(), "the work ran once")
}
