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

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/barrier"
	"github.com/daprshop/daprshop/internal/daprdtest"
	"github.com/daprshop/daprshop/internal/state"
)

var now = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }

// counter is a business record: a number changed under its ETag.
type counter struct {
	store state.Store
	key   string
	runs  atomic.Int64 // how often a work function ran
}

// add returns work that adds n to the counter and reports the new value.
func (c *counter) add(n int) barrier.Work {
	return barrier.Work{Reads: []string{c.key}, Change: func(_ context.Context, read map[string]state.Item) (json.RawMessage, []state.Op, error) {
		c.runs.Add(1)
		v, op := 0, state.Op{Key: c.key, Insert: true}
		if it, ok := read[c.key]; ok {
			var err error
			if v, err = strconv.Atoi(string(it.Value)); err != nil {
				return nil, nil, err
			}
			op = state.Op{Key: c.key, ETag: it.ETag}
		}
		v += n
		op.Value = []byte(strconv.Itoa(v))
		return json.RawMessage(strconv.Itoa(v)), []state.Op{op}, nil
	}}
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
func testBarrier(t *testing.T, store state.Store) {
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
		_, err := b.Do(ctx, gid, "charge", barrier.Try, barrier.Work{Change: func(context.Context, map[string]state.Item) (json.RawMessage, []state.Op, error) {
			return nil, nil, declined
		}})
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

// countingStore counts the calls that reach a store.
type countingStore struct {
	state.Store
	gets, transacts atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, keys ...string) (map[string]state.Item, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, keys...)
}

func (s *countingStore) Transact(ctx context.Context, ops []state.Op) error {
	s.transacts.Add(1)
	return s.Store.Transact(ctx, ops)
}

// An op reads its barrier records and its work's records in one call and
// writes in one transaction; a repeat reads once and writes nothing.
func TestOneReadOneWritePerOp(t *testing.T) {
	t.Parallel()
	store := &countingStore{Store: state.NewMemoryStore()}
	b := barrier.New(store, now)
	c := &counter{store: store, key: "n"}
	_, err := b.Do(t.Context(), "order-1", "charge", barrier.Try, c.add(2))
	require.NoError(t, err)
	assert.Equal(t, int64(1), store.gets.Load())
	assert.Equal(t, int64(1), store.transacts.Load())
	_, err = b.Do(t.Context(), "order-1", "charge", barrier.Try, c.add(2))
	require.NoError(t, err)
	assert.Equal(t, int64(2), store.gets.Load())
	assert.Equal(t, int64(1), store.transacts.Load(), "a replay writes nothing")
}

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	testBarrier(t, state.NewMemoryStore())
}

func TestMemoryStoreErr(t *testing.T) {
	t.Parallel()
	store := state.NewMemoryStore()
	store.Fail(errors.New("down"))
	_, err := barrier.New(store, now).Do(context.Background(), "g", "b", barrier.Try, barrier.Work{})
	assert.EqualError(t, err, "down")
}

func TestDaprStore(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real daprd")
	}
	t.Parallel()
	sc := daprdtest.Start(t, "barrier", daprdtest.StateStore("store"))
	testBarrier(t, state.NewDaprStore(sc.Client, "store"))
}

func ExampleBarrier_Do() {
	b := barrier.New(state.NewMemoryStore(), time.Now)
	charge := barrier.Work{Change: func(context.Context, map[string]state.Item) (json.RawMessage, []state.Op, error) {
		return json.RawMessage(`{"charged":500}`), []state.Op{{Key: "wallet-ada", Value: []byte(`{"balance":500}`)}}, nil
	}}
	for range 2 {
		out, _ := b.Do(context.Background(), "order-1", "charge", barrier.Try, charge)
		fmt.Println(string(out.Result), out.Replayed)
	}
	// Output:
	// {"charged":500} false
	// {"charged":500} true
}

// contended is a store on which every transaction loses a race.
type contended struct{ *state.MemoryStore }

func (contended) Transact(context.Context, []state.Op) error { return state.ErrConflict }

func TestDoBacksOffThenGivesUp(t *testing.T) {
	t.Parallel()
	var pauses atomic.Int64
	b := barrier.New(contended{state.NewMemoryStore()}, now, barrier.WithBackoff(func(int) time.Duration { pauses.Add(1); return 0 }))
	noop := barrier.Work{Change: func(context.Context, map[string]state.Item) (json.RawMessage, []state.Op, error) {
		return nil, nil, nil
	}}
	_, err := b.Do(context.Background(), "g", "b", barrier.Try, noop)
	assert.ErrorIs(t, err, state.ErrConflict)
	assert.Equal(t, int64(63), pauses.Load(), "64 attempts, a pause between each")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = barrier.New(contended{state.NewMemoryStore()}, now).Do(ctx, "g", "b", barrier.Try, noop)
	assert.ErrorIs(t, err, state.ErrConflict)
	assert.ErrorIs(t, err, context.Canceled, "a caller gone stops the retries")
}

// Every replayed op is logged once, with what names it; a first run, an
// empty cancel and a failed try are not replays.
func TestWithLoggerLogsReplays(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	store := state.NewMemoryStore()
	b := barrier.New(store, now, barrier.WithLogger(logger))
	c := &counter{store: store, key: "n"}
	ctx := context.Background()

	_, err := b.Do(ctx, "order-1", "charge", barrier.Try, c.add(1)) // first run
	require.NoError(t, err)
	_, err = b.Do(ctx, "order-2", "charge", barrier.Cancel, c.add(-1)) // empty cancel
	require.NoError(t, err)
	_, err = b.Do(ctx, "order-3", "charge", barrier.Try, barrier.Work{Change: func(context.Context, map[string]state.Item) (json.RawMessage, []state.Op, error) {
		return nil, nil, errors.New("declined")
	}})
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
