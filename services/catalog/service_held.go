package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The reservations that hold stock: their index, the sweep of those past
// their expiry, and the stock listing that checks that no unit is lost.

// heldIndex reads every shard of the index: the order ids of the held
// reservations and their expiries.
func (r *reservations) heldIndex(ctx context.Context) (map[string]time.Time, error) {
	items, err := r.state.Get(ctx, allHeldShards()...)
	if err != nil {
		return nil, fmt.Errorf("read the index of held reservations: %w", err)
	}
	held := map[string]time.Time{}
	for key, it := range items {
		var h heldRecord
		if err := json.Unmarshal(it.Value, &h); err != nil {
			return nil, fmt.Errorf("decode %s: %w", key, err)
		}
		for id, exp := range h.Orders {
			held[id] = exp
		}
	}
	return held, nil
}

// Held returns every reservation that holds stock, sorted by order id.
func (r *reservations) Held(ctx context.Context) ([]Reservation, error) {
	index, err := r.heldIndex(ctx)
	if err != nil {
		return nil, err
	}
	held := []Reservation{}
	if len(index) == 0 {
		return held, nil
	}
	keys := make([]string, 0, len(index))
	for id := range index {
		keys = append(keys, reservationKey(id))
	}
	slices.Sort(keys)
	items, err := r.state.Get(ctx, keys...)
	if err != nil {
		return nil, fmt.Errorf("read the held reservations: %w", err)
	}
	for _, key := range keys {
		it, ok := items[key]
		if !ok {
			continue
		}
		var res Reservation
		if err := json.Unmarshal(it.Value, &res); err != nil {
			return nil, fmt.Errorf("decode %s: %w", key, err)
		}
		if res.Held() {
			held = append(held, res)
		}
	}
	return held, nil
}

// Sweep releases every reservation held past its expiry, and returns how
// many it released. It goes on past a failure, and reports them all. Until
// the catalog is seeded (its sidecar answering) it does nothing.
func (r *reservations) Sweep(ctx context.Context) (int, error) {
	if r.seeded() != nil {
		return 0, nil
	}
	index, err := r.heldIndex(ctx)
	if err != nil {
		return 0, err
	}
	now := r.now()
	var due []string
	for id, exp := range index {
		if !now.Before(exp) {
			due = append(due, id)
		}
	}
	slices.Sort(due)
	released := 0
	var errs []error
	for _, id := range due {
		ok, err := r.expire(ctx, id)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			released++
		}
	}
	return released, errors.Join(errs...)
}

// StockLevel is where a product's units are.
type StockLevel struct {
	ID string
	Stock
}

// Stock returns the stock of every product, sorted by id, read from the
// store (not the cache), for checking that no unit was created or lost.
func (r *reservations) Stock(ctx context.Context) ([]StockLevel, error) {
	if err := r.seeded(); err != nil {
		return nil, err
	}
	ids, err := r.products.Index(ctx)
	if err != nil {
		return nil, fmt.Errorf("list stock: %w", err)
	}
	levels := make([]StockLevel, 0, len(ids))
	// A bulk read per page keeps one call small whatever the catalog's size.
	for page := range slices.Chunk(ids, 100) {
		ps, err := r.products.GetMany(ctx, page)
		if err != nil {
			return nil, fmt.Errorf("list stock: %w", err)
		}
		for _, p := range ps {
			levels = append(levels, StockLevel{ID: p.ID, Stock: p.Stock})
		}
	}
	return levels, nil
}
