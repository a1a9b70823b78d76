package main

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"

	"github.com/daprshop/daprshop/internal/apperr"
)

// fakeOrderStore keeps everything in memory, with a version per claim like
// the ETag of the Dapr store. When err is set, every call returns it.
type fakeOrderStore struct {
	mu      sync.Mutex
	orders  map[string]Order
	index   map[string][]string
	claims  map[string]claim
	version map[string]int
	reads   int // Claim calls
	creates int // Create calls that saved an order
	err     error
	// onPut, when set, runs (unlocked) after each successful PutClaim: a
	// test's hook to act while a request is in flight.
	onPut func()
}

var _ orderStore = (*fakeOrderStore)(nil)

func newFakeOrderStore() *fakeOrderStore {
	return &fakeOrderStore{orders: map[string]Order{}, index: map[string][]string{}, claims: map[string]claim{}, version: map[string]int{}}
}

func (s *fakeOrderStore) Claim(_ context.Context, userID, key string) (claim, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.err != nil {
		return claim{}, "", s.err
	}
	c, ok := s.claims[userID+"|"+key]
	if !ok {
		return claim{}, "", apperr.E(apperr.NotFound, "no claim")
	}
	return c, strconv.Itoa(s.version[userID+"|"+key]), nil
}

func (s *fakeOrderStore) PutClaim(_ context.Context, userID, key string, c claim, version string) error {
	s.mu.Lock()
	k := userID + "|" + key
	if s.err != nil {
		s.mu.Unlock()
		return s.err
	}
	_, exists := s.claims[k]
	if (version == "" && exists) || (version != "" && (!exists || version != strconv.Itoa(s.version[k]))) {
		s.mu.Unlock()
		return apperr.E(apperr.Conflict, "the idempotency key changed meanwhile")
	}
	s.claims[k] = c
	s.version[k]++
	hook := s.onPut
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return nil
}

func (s *fakeOrderStore) DeleteClaim(_ context.Context, userID, key, version string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	k := userID + "|" + key
	if _, ok := s.claims[k]; ok && version == strconv.Itoa(s.version[k]) {
		delete(s.claims, k)
		s.version[k]++
	}
	return nil
}

func (s *fakeOrderStore) Create(_ context.Context, o Order, key string, response []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if _, ok := s.orders[o.ID]; ok {
		return apperr.E(apperr.Conflict, "order %s exists already", o.ID)
	}
	s.orders[o.ID] = o
	s.creates++
	if key != "" {
		k := o.UserID + "|" + key
		if c, ok := s.claims[k]; ok && !c.Done && c.OrderID == o.ID {
			c.Done, c.Response = true, response
			s.claims[k] = c
			s.version[k]++
		}
	}
	idx := s.index[o.UserID]
	i, _ := slices.BinarySearch(idx, indexKey(o))
	s.index[o.UserID] = slices.Insert(idx, i, indexKey(o))
	return nil
}

func (s *fakeOrderStore) Order(_ context.Context, id string) (Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return Order{}, s.err
	}
	o, ok := s.orders[id]
	if !ok {
		return Order{}, apperr.E(apperr.NotFound, "order %s not found", id)
	}
	return o, nil
}

func (s *fakeOrderStore) Index(_ context.Context, userID string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	return slices.Clone(s.index[userID]), nil
}

func (s *fakeOrderStore) Orders(_ context.Context, ids []string) ([]Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	out := []Order{}
	for _, id := range ids {
		if o, ok := s.orders[id]; ok {
			out = append(out, o)
		}
	}
	return out, nil
}

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

func (s *fakeOrderStore) Update(_ context.Context, id string, change func(*Order) error) (Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return Order{}, s.err
	}
	o, ok := s.orders[id]
	if !ok {
		return Order{}, apperr.E(apperr.NotFound, "order %s not found", id)
	}
	o.Steps = slices.Clone(o.Steps)
	if err := change(&o); err != nil {
		return Order{}, err
	}
	s.orders[id] = o
	return o, nil
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
