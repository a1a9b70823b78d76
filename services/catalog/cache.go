package main

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/sync/singleflight"

	"github.com/daprshop/daprshop/internal/apperr"
)

var _ productStore = (*cache)(nil)

// cache is a read-through cache in front of a productStore for products
// and the index, so that browsing the catalog does not cost a sidecar round
// trip per request. An entry lives for ttl; concurrent misses of one key
// share one store call; a stock change made through the cache drops the
// product's entry, so the next read sees it. Errors (not found included)
// are never cached, so the entries are bounded by the catalog's size.
//
// A stock change made by another instance is seen within ttl: the cache
// serves browsing, while stock decisions (UpdateStock, reservations) always
// read the store.
type cache struct {
	store productStore
	ttl   time.Duration
	now   func() time.Time

	loads singleflight.Group

	mu       sync.Mutex
	products map[string]entry[Product]
	index    entry[[]string]
	// gens counts the invalidations of each key. A load remembers the
	// generation it started in and stores its result only if it is still
	// current: a read racing a stock change cannot put back the old stock.
	// Loads are shared per generation too, so a read that starts after an
	// invalidation never joins a load that started before it.
	gens map[string]uint64

	hits, misses atomic.Int64
}

type entry[T any] struct {
	val     T
	expires time.Time
	set     bool
}

// fresh reports whether e holds a value that has not expired at now.
func (e entry[T]) fresh(now time.Time) bool { return e.set && now.Before(e.expires) }

// loadTimeout bounds a shared store call. It runs detached from the context
// of the request that started it, so that one client going away does not
// fail the others waiting on the same load.
const loadTimeout = 5 * time.Second

func newCache(store productStore, ttl time.Duration, now func() time.Time) *cache {
	return &cache{store: store, ttl: ttl, now: now, products: map[string]entry[Product]{}, gens: map[string]uint64{}}
}

// cacheStats counts lookups: a hit is served from memory, a miss goes to
// the store (or joins a load of the same key already under way).
type cacheStats struct {
	Hits   int64
	Misses int64
}

// cacheLookups is what Prometheus sees of every cache of the process.
var cacheLookups = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "daprshop_cache_requests_total",
	Help: "Lookups in an in-process read cache, by cache and result: hit (served from memory) or miss (went to the store or joined a load under way).",
}, []string{"cache", "result"})

var (
	productHits   = cacheLookups.WithLabelValues("products", "hit")
	productMisses = cacheLookups.WithLabelValues("products", "miss")
)

func (c *cache) hit(n int) {
	c.hits.Add(int64(n))
	productHits.Add(float64(n))
}

func (c *cache) miss(n int) {
	c.misses.Add(int64(n))
	productMisses.Add(float64(n))
}

// Stats returns the hit and miss counts since the cache was made.
func (c *cache) Stats() cacheStats {
	return cacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
}

const indexCacheKey = "index"

func productCacheKey(id string) string { return "product/" + id }

// Get returns a product from memory, or from the store.
func (c *cache) Get(ctx context.Context, id string) (Product, error) {
	if p, ok := c.cachedProduct(id); ok {
		c.hit(1)
		return p, nil
	}
	c.miss(1)
	key := productCacheKey(id)
	gen := c.generation(key)
	v, err := c.load(ctx, key+"@"+strconv.FormatUint(gen, 10), func(ctx context.Context) (any, error) {
		// A load that ended between our miss and this one filled the entry.
		if p, ok := c.cachedProduct(id); ok {
			return p, nil
		}
		p, err := c.store.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		c.putProduct(id, gen, p)
		return p, nil
	})
	if err != nil {
		return Product{}, err
	}
	return v.(Product), nil
}

// GetMany returns the products it holds from memory and reads the others
// from the store in one call.
func (c *cache) GetMany(ctx context.Context, ids []string) ([]Product, error) {
	found := make(map[string]Product, len(ids))
	var missing []string
	for _, id := range ids {
		if p, ok := c.cachedProduct(id); ok {
			found[id] = p
		} else {
			missing = append(missing, id)
		}
	}
	c.hit(len(ids) - len(missing))
	c.miss(len(missing))
	if len(missing) > 0 {
		gens := make(map[string]uint64, len(missing))
		var key strings.Builder
		key.WriteString("many")
		for _, id := range missing {
			gens[id] = c.generation(productCacheKey(id))
			key.WriteString("/" + id + "@" + strconv.FormatUint(gens[id], 10))
		}
		v, err := c.load(ctx, key.String(), func(ctx context.Context) (any, error) {
			ps, err := c.store.GetMany(ctx, missing)
			if err != nil {
				return nil, err
			}
			for _, p := range ps {
				c.putProduct(p.ID, gens[p.ID], p)
			}
			return ps, nil
		})
		if err != nil {
			return nil, err
		}
		for _, p := range v.([]Product) {
			found[p.ID] = p
		}
	}
	products := make([]Product, 0, len(ids))
	for _, id := range ids {
		if p, ok := found[id]; ok {
			products = append(products, p)
		}
	}
	return products, nil
}

// Index returns the product ids from memory, or from the store.
func (c *cache) Index(ctx context.Context) ([]string, error) {
	c.mu.Lock()
	e := c.index
	c.mu.Unlock()
	if e.fresh(c.now()) {
		c.hit(1)
		return slices.Clone(e.val), nil
	}
	c.miss(1)
	gen := c.generation(indexCacheKey)
	v, err := c.load(ctx, indexCacheKey+"@"+strconv.FormatUint(gen, 10), func(ctx context.Context) (any, error) {
		ids, err := c.store.Index(ctx)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.gens[indexCacheKey] == gen {
			c.index = entry[[]string]{val: ids, expires: c.now().Add(c.ttl), set: true}
		}
		c.mu.Unlock()
		return ids, nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Clone(v.([]string)), nil
}

// Seed writes through to the store and drops the index and the seeded
// products from memory.
func (c *cache) Seed(ctx context.Context, products []Product) error {
	err := c.store.Seed(ctx, products)
	c.forgetIndex()
	for _, p := range products {
		c.forgetProduct(p.ID)
	}
	return err
}

// UpdateStock writes through to the store and drops the product from
// memory, even on failure: a write that timed out may still have happened.
func (c *cache) UpdateStock(ctx context.Context, id string, change func(*Stock) error) (Product, error) {
	p, err := c.store.UpdateStock(ctx, id, change)
	c.forgetProduct(id)
	return p, err
}

// Receive writes through to the store and drops the product from memory,
// even on failure, as UpdateStock does.
func (c *cache) Receive(ctx context.Context, id string, r Receipt) (Product, error) {
	p, err := c.store.Receive(ctx, id, r)
	c.forgetProduct(id)
	return p, err
}

// Invalidate drops products from memory, for a stock change made around
// the cache (a reservation's transaction): the next read sees it.
func (c *cache) Invalidate(ids ...string) {
	for _, id := range ids {
		c.forgetProduct(id)
	}
}

// load runs fn once for all callers asking for key at the same time.
// Every caller still gives up when its own context ends.
func (c *cache) load(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	ch := c.loads.DoChan(key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		return fn(ctx)
	})
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, apperr.Wrap(apperr.Unavailable, ctx.Err(), "the catalog did not answer in time")
	}
}

func (c *cache) cachedProduct(id string) (Product, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.products[id]
	if !ok || !e.fresh(c.now()) {
		return Product{}, false
	}
	return e.val, true
}

func (c *cache) putProduct(id string, gen uint64, p Product) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens[productCacheKey(id)] != gen {
		return // invalidated while loading: the value may predate the change
	}
	c.products[id] = entry[Product]{val: p, expires: c.now().Add(c.ttl), set: true}
}

func (c *cache) generation(key string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gens[key]
}

// forgetProduct drops a product from memory and makes loads under way
// keep their result to themselves.
func (c *cache) forgetProduct(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gens[productCacheKey(id)]++
	delete(c.products, id)
}

// forgetIndex is forgetProduct for the index.
func (c *cache) forgetIndex() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gens[indexCacheKey]++
	c.index = entry[[]string]{}
}
