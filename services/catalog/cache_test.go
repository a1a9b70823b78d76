package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/state"
)

// countingStore counts the reads that reach the store. When gate is set,
// Get reads the product, then waits for gate to close before returning it.
type countingStore struct {
	*memProducts
	gets, getManys, indexes atomic.Int64
	gate                    chan struct{}
}

func newCountingStore(t *testing.T) *countingStore {
	t.Helper()
	s := &countingStore{memProducts: newMemProducts()}
	require.NoError(t, s.Seed(context.Background(), testProducts))
	return s
}

func (s *countingStore) Get(ctx context.Context, id string) (Product, error) {
	p, err := s.memProducts.Get(ctx, id)
	s.gets.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	return p, err
}

func (s *countingStore) GetMany(ctx context.Context, ids []string) ([]Product, error) {
	s.getManys.Add(1)
	return s.memProducts.GetMany(ctx, ids)
}

func (s *countingStore) Index(ctx context.Context) ([]string, error) {
	s.indexes.Add(1)
	return s.memProducts.Index(ctx)
}

// clock is a time source tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const ttl = 2 * time.Second

func TestCacheExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reads := []struct {
		name  string
		read  func(*cache) error
		calls func(*countingStore) int64
		hits  int64 // a read counts this many lookups
	}{
		{"get", func(c *cache) error { _, err := c.Get(ctx, "mug"); return err }, func(s *countingStore) int64 { return s.gets.Load() }, 1},
		{"get many", func(c *cache) error { _, err := c.GetMany(ctx, []string{"mug", "kettle"}); return err }, func(s *countingStore) int64 { return s.getManys.Load() }, 2},
		{"index", func(c *cache) error { _, err := c.Index(ctx); return err }, func(s *countingStore) int64 { return s.indexes.Load() }, 1},
	}
	tests := []struct {
		name       string
		after      time.Duration
		wantCalls  int64
		wantStats  func(n int64) cacheStats
		wantReason string
	}{
		{"hit within the TTL", ttl - time.Nanosecond, 1, func(n int64) cacheStats { return cacheStats{Hits: n, Misses: n} }, "served from memory"},
		{"miss after the TTL", ttl, 2, func(n int64) cacheStats { return cacheStats{Misses: 2 * n} }, "expired"},
	}
	for _, rd := range reads {
		for _, tt := range tests {
			t.Run(rd.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				store, clk := newCountingStore(t), newClock()
				c := newCache(store, ttl, clk.Now)
				require.NoError(t, rd.read(c))
				clk.Advance(tt.after)
				require.NoError(t, rd.read(c))
				assert.Equal(t, tt.wantCalls, rd.calls(store), tt.wantReason)
				assert.Equal(t, tt.wantStats(rd.hits), c.Stats())
			})
		}
	}
}

func TestCacheGetManyReadsOnlyWhatItLacks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore(t)
	c := newCache(store, ttl, newClock().Now)
	_, err := c.Get(ctx, "mug")
	require.NoError(t, err)
	got, err := c.GetMany(ctx, []string{"mug", "teapot", "kettle", "beans-1kg"})
	require.NoError(t, err)
	assert.Equal(t, []Product{testProducts[0], testProducts[2], testProducts[1]}, got)
	got, err = c.GetMany(ctx, []string{"kettle", "beans-1kg", "mug"})
	require.NoError(t, err)
	assert.Equal(t, []Product{testProducts[2], testProducts[1], testProducts[0]}, got)
	assert.Equal(t, int64(1), store.getManys.Load())
	assert.Equal(t, cacheStats{Hits: 4, Misses: 4}, c.Stats())
}

func TestCacheSharesConcurrentMisses(t *testing.T) {
	t.Parallel()
	const readers = 16
	store := newCountingStore(t)
	store.gate = make(chan struct{})
	c := newCache(store, ttl, newClock().Now)
	var wg sync.WaitGroup
	results := make([]Product, readers)
	for i := range readers {
		wg.Go(func() {
			p, err := c.Get(context.Background(), "mug")
			assert.NoError(t, err)
			results[i] = p
		})
	}
	// The store holds the first read until every reader has missed: they
	// all wait on it at once.
	require.Eventually(t, func() bool { return c.Stats().Misses == readers }, 10*time.Second, time.Millisecond)
	close(store.gate)
	wg.Wait()
	assert.Equal(t, int64(1), store.gets.Load())
	for _, p := range results {
		assert.Equal(t, testProducts[0], p)
	}
}

func TestCacheWaiterGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	store := newCountingStore(t)
	store.gate = make(chan struct{})
	c := newCache(store, ttl, newClock().Now)
	first := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), "mug")
		first <- err
	}()
	require.Eventually(t, func() bool { return store.gets.Load() == 1 }, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Get(ctx, "mug")
	assert.True(t, apperr.Is(err, apperr.Unavailable), "got %v", err)
	close(store.gate)
	assert.NoError(t, <-first, "the shared load went on for the others")
}

func TestCacheStockChangeDropsTheProduct(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore(t)
	c := newCache(store, ttl, newClock().Now)
	_, err := c.Get(ctx, "mug")
	require.NoError(t, err)
	_, err = c.GetMany(ctx, []string{"kettle"})
	require.NoError(t, err)

	_, err = c.UpdateStock(ctx, "mug", func(s *Stock) error { return s.Reserve(5) })
	require.NoError(t, err)
	got, err := c.Get(ctx, "mug")
	require.NoError(t, err)
	assert.Equal(t, Stock{Available: 3, Reserved: 5}, got.Stock)
	assert.Equal(t, int64(2), store.gets.Load(), "read again after the change")

	_, err = c.Get(ctx, "mug")
	require.NoError(t, err)
	_, err = c.Get(ctx, "kettle")
	require.NoError(t, err)
	assert.Equal(t, int64(2), store.gets.Load(), "cached again; other products untouched")
}

func TestCacheLoadRacingAStockChangeIsNotKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore(t)
	store.gate = make(chan struct{})
	c := newCache(store, ttl, newClock().Now)
	stale := make(chan Product, 1)
	go func() {
		p, err := c.Get(ctx, "mug")
		assert.NoError(t, err)
		stale <- p
	}()
	// The load has read the product and is held; the stock changes.
	require.Eventually(t, func() bool { return store.gets.Load() == 1 }, 10*time.Second, time.Millisecond)
	_, err := store.memProducts.UpdateStock(ctx, "mug", func(s *Stock) error { return s.Reserve(5) })
	require.NoError(t, err)
	_, err = c.UpdateStock(ctx, "mug", func(s *Stock) error { return s.Reserve(1) })
	require.NoError(t, err)
	close(store.gate)
	assert.Equal(t, int64(8), (<-stale).Stock.Available, "the racing reader saw the old stock")

	got, err := c.Get(ctx, "mug")
	require.NoError(t, err)
	assert.Equal(t, Stock{Available: 2, Reserved: 6}, got.Stock, "the old stock was not cached")
}

func TestCacheSeedDropsTheIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore(t)
	c := newCache(store, ttl, newClock().Now)
	_, err := c.Index(ctx)
	require.NoError(t, err)
	require.NoError(t, c.Seed(ctx, []Product{product("teapot", 1)}))
	ids, err := c.Index(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"beans-1kg", "kettle", "mug", "teapot"}, ids)
}

func TestCacheDoesNotKeepErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name  string
		fail  func(*countingStore) // makes the first read fail
		read  func(*cache) error
		calls func(*countingStore) int64
	}{
		{"get, store down", func(s *countingStore) { s.mem.Fail(storeDown) },
			func(c *cache) error { _, err := c.Get(ctx, "mug"); return err }, func(s *countingStore) int64 { return s.gets.Load() }},
		{"get, not found", func(s *countingStore) { _ = s.mem.Put(ctx, state.Op{Key: productKey("mug"), Delete: true}) },
			func(c *cache) error { _, err := c.Get(ctx, "mug"); return err }, func(s *countingStore) int64 { return s.gets.Load() }},
		{"get many, store down", func(s *countingStore) { s.mem.Fail(storeDown) },
			func(c *cache) error { _, err := c.GetMany(ctx, []string{"mug"}); return err }, func(s *countingStore) int64 { return s.getManys.Load() }},
		{"index, store down", func(s *countingStore) { s.mem.Fail(storeDown) },
			func(c *cache) error { _, err := c.Index(ctx); return err }, func(s *countingStore) int64 { return s.indexes.Load() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newCountingStore(t)
			c := newCache(store, ttl, newClock().Now)
			tt.fail(store)
			require.Error(t, tt.read(c))

			store.mem.Fail(nil)
			mug, err := state.Insert(productKey("mug"), testProducts[0])
			require.NoError(t, err)
			mug.Insert = false
			require.NoError(t, store.mem.Put(ctx, mug))
			assert.NoError(t, tt.read(c), "asked the store again")
			assert.Equal(t, int64(2), tt.calls(store))
		})
	}
}

func TestCacheUpdateStockPassesErrorsOn(t *testing.T) {
	t.Parallel()
	store := newCountingStore(t)
	c := newCache(store, ttl, newClock().Now)
	_, err := c.UpdateStock(context.Background(), "kettle", func(s *Stock) error { return s.Reserve(1) })
	assert.ErrorIs(t, err, ErrOutOfStock)
}
