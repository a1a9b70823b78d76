package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/state"
)

var (
	_ orderStore = (*stateOrderStore)(nil)
	_ catalog    = (*daprCatalog)(nil)
)

// stateOrderStore keeps orders in a state store: one record per order, one
// index per user, one claim per (user, idempotency key).
type stateOrderStore struct {
	records state.Store
}

func newStateOrderStore(records state.Store) *stateOrderStore {
	return &stateOrderStore{records: records}
}

// claimTTL is how long a finished claim answers retries; after it the key
// may be used again. A day, like the payment APIs clients know.
const claimTTL = 24 * time.Hour

func orderKey(id string) string      { return "order-" + id }
func indexRecord(user string) string { return "orders-of-" + user }

// claimKey hashes the client's key, so that keys have one length and
// charset whatever the client sends.
func claimKey(user, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "idem-" + user + "-" + hex.EncodeToString(sum[:])
}

// userIndex lists a user's orders by index key, sorted.
type userIndex struct {
	Keys []string `json:"keys"`
}

func (s *stateOrderStore) Claim(ctx context.Context, userID, key string) (claim, string, error) {
	c, err := state.Read[claim](ctx, s.records, claimKey(userID, key))
	if err != nil {
		return claim{}, "", fmt.Errorf("read idempotency claim: %w", err)
	}
	if !c.Found {
		return claim{}, "", apperr.E(apperr.NotFound, "no claim")
	}
	return c.Value, c.ETag, nil
}

func (s *stateOrderStore) PutClaim(ctx context.Context, userID, key string, c claim, version string) error {
	rec := state.Record[claim]{Key: claimKey(userID, key), Value: c, ETag: version, Found: version != ""}
	op, err := rec.Write()
	if err != nil {
		return err
	}
	op.TTL = claimTTL
	err = s.records.Put(ctx, op)
	if errors.Is(err, state.ErrConflict) {
		return apperr.Wrap(apperr.Conflict, err, "the idempotency key changed meanwhile")
	}
	if err != nil {
		return fmt.Errorf("save idempotency claim: %w", err)
	}
	return nil
}

func (s *stateOrderStore) DeleteClaim(ctx context.Context, userID, key, version string) error {
	err := s.records.Put(ctx, state.Op{Key: claimKey(userID, key), ETag: version, Delete: true})
	if errors.Is(err, state.ErrConflict) {
		return nil // changed meanwhile: it is someone else's now
	}
	if err != nil {
		return fmt.Errorf("delete idempotency claim: %w", err)
	}
	return nil
}

// maxIndexAttempts bounds the runs of a transaction whose user index
// changed under it (the same user placing orders at once).
const maxIndexAttempts = 16

// Create writes the order insert-only, the user's index (guarded by its
// ETag) and the completed claim (guarded by its own) in one transaction,
// reading the index and the claim in one bulk call first. When the
// transaction loses a race, either the order exists already (Conflict) or
// the index or the claim moved, and it is tried again on fresh reads.
func (s *stateOrderStore) Create(ctx context.Context, o Order, key string, response []byte) error {
	keys := []string{indexRecord(o.UserID)}
	if key != "" {
		keys = append(keys, claimKey(o.UserID, key))
	}
	err := state.Retries{Attempts: maxIndexAttempts}.Do(ctx, func(ctx context.Context) error {
		items, err := s.records.Get(ctx, keys...)
		if err != nil {
			return fmt.Errorf("read order index and claim: %w", err)
		}
		idx, err := state.Lookup[userIndex](items, indexRecord(o.UserID))
		if err != nil {
			return err
		}
		k := indexKey(o)
		if i, found := slices.BinarySearch(idx.Value.Keys, k); !found {
			idx.Value.Keys = slices.Insert(idx.Value.Keys, i, k)
		}
		order, err := state.Insert(orderKey(o.ID), o)
		if err != nil {
			return err
		}
		index, err := idx.Write()
		if err != nil {
			return err
		}
		ops := []state.Op{order, index}
		if key != "" {
			op, ok, err := completeClaim(items, claimKey(o.UserID, key), o.ID, response)
			if err != nil {
				return err
			}
			if ok {
				ops = append(ops, op)
			}
		}
		err = s.records.Transact(ctx, ops)
		if !errors.Is(err, state.ErrConflict) {
			return err
		}
		if _, err := s.Order(ctx, o.ID); err == nil {
			return apperr.E(apperr.Conflict, "order %s exists already", o.ID)
		} else if !apperr.Is(err, apperr.NotFound) {
			return err
		}
		return err // the index or the claim moved: again
	})
	if errors.Is(err, state.ErrConflict) {
		return apperr.Wrap(apperr.Conflict, err, "too many orders at once for this user; try again")
	}
	if err != nil && !apperr.Is(err, apperr.Conflict) {
		return fmt.Errorf("save order: %w", err)
	}
	return err
}

// completeClaim is the write that completes the claim under key (read in
// items) with the response of its order orderID, at the version read (a
// store may refuse an unconditional write over a record written
// first-write: one does, docs/dapr-notes.md). None when the claim is gone
// (its TTL), done, or another order's.
func completeClaim(items map[string]state.Item, key, orderID string, response []byte) (state.Op, bool, error) {
	c, err := state.Lookup[claim](items, key)
	if err != nil || !c.Found || c.Value.Done || c.Value.OrderID != orderID {
		return state.Op{}, false, err
	}
	c.Value.Done, c.Value.Response = true, response
	op, err := c.Write()
	op.TTL = claimTTL
	return op, err == nil, err
}

// maxUpdateAttempts bounds the runs of an order update that lost a race.
const maxUpdateAttempts = 8

// Update reads the order with its ETag, applies change and saves it under
// that ETag, again on the fresh order when another write came in between.
func (s *stateOrderStore) Update(ctx context.Context, id string, change func(*Order) error) (Order, error) {
	var o state.Record[Order]
	err := state.Retries{Attempts: maxUpdateAttempts}.Do(ctx, func(ctx context.Context) error {
		var err error
		if o, err = s.read(ctx, id); err != nil {
			return err
		}
		if err := change(&o.Value); err != nil {
			return err
		}
		op, err := o.Write()
		if err != nil {
			return err
		}
		return s.records.Put(ctx, op)
	})
	if errors.Is(err, state.ErrConflict) {
		return Order{}, apperr.Wrap(apperr.Conflict, err, "order %s changed too often meanwhile; try again", id)
	}
	if err != nil {
		return Order{}, err
	}
	return o.Value, nil
}

func (s *stateOrderStore) Order(ctx context.Context, id string) (Order, error) {
	o, err := s.read(ctx, id)
	return o.Value, err
}

func (s *stateOrderStore) read(ctx context.Context, id string) (state.Record[Order], error) {
	o, err := state.Read[Order](ctx, s.records, orderKey(id))
	if err != nil {
		return o, fmt.Errorf("read order %s: %w", id, err)
	}
	if !o.Found {
		return o, apperr.E(apperr.NotFound, "order %s not found", id)
	}
	return o, nil
}

func (s *stateOrderStore) Index(ctx context.Context, userID string) ([]string, error) {
	idx, err := state.Read[userIndex](ctx, s.records, indexRecord(userID))
	if err != nil {
		return nil, fmt.Errorf("read order index: %w", err)
	}
	return idx.Value.Keys, nil
}

func (s *stateOrderStore) Orders(ctx context.Context, ids []string) ([]Order, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = orderKey(id)
	}
	items, err := s.records.Get(ctx, keys...)
	if err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	orders := make([]Order, 0, len(ids))
	for _, k := range keys {
		o, err := state.Lookup[Order](items, k)
		if err != nil {
			return nil, err
		}
		if o.Found {
			orders = append(orders, o.Value)
		}
	}
	return orders, nil
}
