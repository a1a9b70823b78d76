package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/daprshop/daprshop/internal/state"
)

// The records of the stock participant in the state store, and the writes
// that change them (the layout is on reservations, service_reservations.go).

// heldShards is how many records the index of held reservations is spread
// over, by a hash of the order id.
const heldShards = 16

func reservationKey(orderID string) string { return "reservation-" + orderID }

func heldShardKey(n uint32) string { return fmt.Sprintf("reservation-held-%02d", n) }

func heldShardOf(orderID string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(orderID)) // a hash never fails to write
	return heldShardKey(h.Sum32() % heldShards)
}

func allHeldShards() []string {
	keys := make([]string, heldShards)
	for i := range keys {
		keys[i] = heldShardKey(uint32(i))
	}
	return keys
}

// heldRecord is one shard of the index: each held reservation's order id
// and expiry.
type heldRecord struct {
	Orders map[string]time.Time `json:"orders"`
}

// readWith is what a read of keys found, by key, with the keys it found
// absent: the products a settlement read with its reservation.
type readWith map[string]*state.Item

func newReadWith(items map[string]state.Item, keys []string) readWith {
	out := make(readWith, len(keys))
	for _, k := range keys {
		if it, ok := items[k]; ok {
			out[k] = &it
		} else {
			out[k] = nil // read: not there
		}
	}
	return out
}

// moveStock returns the writes of the products of res after move of each
// line's units, each under the ETag it was read with: from read when it
// holds them all, or read now.
func (r *reservations) moveStock(ctx context.Context, res Reservation, move func(*Stock, int64) error, read readWith) ([]state.Op, error) {
	keys := make([]string, len(res.Items))
	items := make(map[string]state.Item, len(keys))
	var missing []string
	for i, l := range res.Items {
		keys[i] = productKey(l.ProductID)
		it, ok := read[keys[i]]
		switch {
		case !ok:
			missing = append(missing, keys[i])
		case it != nil:
			items[keys[i]] = *it
		}
	}
	if len(missing) > 0 {
		fresh, err := r.state.Get(ctx, keys...)
		if err != nil {
			return nil, err
		}
		items = fresh
	}
	ops := make([]state.Op, 0, len(res.Items)+2)
	for i, l := range res.Items {
		rec, err := state.Lookup[Product](items, keys[i])
		if err != nil {
			return nil, err
		}
		if !rec.Found {
			return nil, fmt.Errorf("product %s of the reservation of order %s is missing", l.ProductID, res.OrderID)
		}
		p := rec.Value
		before := p.Stock
		if err := move(&p.Stock, l.Quantity); err != nil {
			// The product does not count the reservation's units as
			// reserved: a read that raced another op, or a broken invariant.
			return nil, fmt.Errorf("move %d units of %s for order %s: %w: %w", l.Quantity, l.ProductID, res.OrderID, errStaleMove, err)
		}
		op, err := productOp(p, rec.ETag, before)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// productOp writes p under etag, after checking that its stock can follow
// before.
func productOp(p Product, etag string, before Stock) (state.Op, error) {
	if err := checkChange(before, p.Stock); err != nil {
		return state.Op{}, fmt.Errorf("stock of %s: %w", p.ID, err)
	}
	if etag == "" {
		// Without an ETag the write would be unconditional, and could
		// overwrite a concurrent change.
		return state.Op{}, fmt.Errorf("product %s was read without an ETag", p.ID)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return state.Op{}, err
	}
	return state.Op{Key: productKey(p.ID), Value: b, ETag: etag}, nil
}

// shardOp returns the write of the index shard at key after change: under
// the ETag it was read with, or insert-only when there was none.
func shardOp(items map[string]state.Item, key string, change func(*heldRecord)) (state.Op, error) {
	h := heldRecord{Orders: map[string]time.Time{}}
	it, ok := items[key]
	if ok {
		if err := json.Unmarshal(it.Value, &h); err != nil {
			return state.Op{}, fmt.Errorf("decode %s: %w", key, err)
		}
		if h.Orders == nil {
			h.Orders = map[string]time.Time{}
		}
	}
	change(&h)
	b, err := json.Marshal(h)
	if err != nil {
		return state.Op{}, err
	}
	if !ok {
		return state.Op{Key: key, Value: b, Insert: true}, nil
	}
	return state.Op{Key: key, Value: b, ETag: it.ETag}, nil
}
