package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/state"
)

// memOrders is the order store on a memory state store, for the unit
// tests, counting what they look at; mem.Fail makes it a store that is
// down.
type memOrders struct {
	*stateOrderStore
	mem     *state.MemoryStore
	reads   atomic.Int64 // Claim calls
	creates atomic.Int64 // Create calls that saved an order
	// onPut, when set, runs after each successful PutClaim: a test's hook
	// to act while a request is in flight.
	onPut func()
}

var _ orderStore = (*memOrders)(nil)

func newMemOrders() *memOrders {
	mem := state.NewMemoryStore()
	return &memOrders{stateOrderStore: newStateOrderStore(mem), mem: mem}
}

func (s *memOrders) Claim(ctx context.Context, userID, key string) (claim, string, error) {
	s.reads.Add(1)
	return s.stateOrderStore.Claim(ctx, userID, key)
}

func (s *memOrders) PutClaim(ctx context.Context, userID, key string, c claim, version string) error {
	err := s.stateOrderStore.PutClaim(ctx, userID, key, c, version)
	if err == nil && s.onPut != nil {
		s.onPut()
	}
	return err
}

func (s *memOrders) Create(ctx context.Context, o Order, key string, response []byte) error {
	err := s.stateOrderStore.Create(ctx, o, key, response)
	if err == nil {
		s.creates.Add(1)
	}
	return err
}

// orders returns the orders stored, by id.
func (s *memOrders) orders() map[string]Order {
	out := map[string]Order{}
	for k, it := range s.mem.Snapshot("order-") {
		var o Order
		if err := json.Unmarshal(it.Value, &o); err != nil {
			panic(fmt.Sprintf("decode %s: %v", k, err))
		}
		out[o.ID] = o
	}
	return out
}

// claims returns the keys of the idempotency claims stored.
func (s *memOrders) claims() []string { return slices.Sorted(maps.Keys(s.mem.Snapshot("idem-"))) }

// fakeCatalog prices from a fixed list. When err is set, every call
// returns it.
type fakeCatalog struct {
	mu       sync.Mutex
	products map[string]product
	err      error
}

func newFakeCatalog() *fakeCatalog {
	return &fakeCatalog{products: map[string]product{
		"espresso-beans-1kg": {ID: "espresso-beans-1kg", Name: "Espresso beans, 1 kg", PriceCents: 2450},
		"pour-over-kettle":   {ID: "pour-over-kettle", Name: "Pour-over kettle", PriceCents: 5900},
	}}
}

func (c *fakeCatalog) Product(_ context.Context, id string) (product, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return product{}, c.err
	}
	p, ok := c.products[id]
	if !ok {
		return product{}, apperr.E(apperr.NotFound, "no product %s", id)
	}
	return p, nil
}

// fakeCheckouts records the sagas started and cancelled and, like the
// workflow engine, runs a started saga's first step (save, when set) with
// its input as it comes out of JSON, unless hold. When err is set, every
// call returns it.
type fakeCheckouts struct {
	mu        sync.Mutex
	started   map[string]Order
	cancelled []string
	err       error
	onStart   func(context.Context) // called first by Start, when set
	busy      int                   // Starts to fail as unavailable first
	starts    int                   // Start calls
	news      []bool                // each Start's isNew
	save      func(context.Context, checkoutInput) error
	hold      bool              // started sagas do not run yet
	progress  map[string][]Step // a saga's steps so far, by order
	looks     int               // Placed calls
}

var _ checkouts = (*fakeCheckouts)(nil)

func newFakeCheckouts() *fakeCheckouts {
	return &fakeCheckouts{started: map[string]Order{}, progress: map[string][]Step{}}
}

func (c *fakeCheckouts) Start(ctx context.Context, o Order, key string, isNew bool) error {
	if c.onStart != nil {
		c.onStart(ctx)
	}
	c.mu.Lock()
	c.starts++
	c.news = append(c.news, isNew)
	if c.err != nil {
		defer c.mu.Unlock()
		return c.err
	}
	if c.busy > 0 {
		c.busy--
		defer c.mu.Unlock()
		return apperr.E(apperr.Unavailable, "failed to begin transaction: database is locked (5)")
	}
	if _, ok := c.started[o.ID]; ok {
		c.mu.Unlock()
		return nil
	}
	b, err := json.Marshal(checkoutInput{Order: o, Key: key})
	if err != nil {
		c.mu.Unlock()
		return err
	}
	var in checkoutInput
	if err := json.Unmarshal(b, &in); err != nil {
		c.mu.Unlock()
		return err
	}
	c.started[o.ID] = in.Order
	save, hold := c.save, c.hold
	c.mu.Unlock()
	if save != nil && !hold {
		// The engine retries a failed step; the request that started the
		// saga never sees it. A test that fails the store sees the order
		// unsaved.
		_ = save(context.WithoutCancel(ctx), in)
	}
	return nil
}

func (c *fakeCheckouts) Placed(_ context.Context, orderID string) (Order, []Step, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.looks++
	if c.err != nil {
		return Order{}, nil, c.err
	}
	o, ok := c.started[orderID]
	if !ok {
		return Order{}, nil, apperr.E(apperr.NotFound, "order %s not found", orderID)
	}
	return o, slices.Clone(c.progress[orderID]), nil
}

func (c *fakeCheckouts) Cancel(_ context.Context, orderID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.cancelled = append(c.cancelled, orderID)
	return nil
}
