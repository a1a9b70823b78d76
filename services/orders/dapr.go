package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/barrier"
	"github.com/daprshop/daprshop/internal/sidecar"
)

var (
	_ orderStore = (*daprOrderStore)(nil)
	_ catalog    = (*daprCatalog)(nil)
)

// daprOrderStore keeps orders in a Dapr state store: one record per order,
// one index per user, one claim per (user, idempotency key).
type daprOrderStore struct {
	client dapr.Client
	store  string
}

func newDaprOrderStore(client dapr.Client, store string) *daprOrderStore {
	return &daprOrderStore{client: client, store: store}
}

var jsonMeta = map[string]string{"contentType": "application/json"}

// claimTTL is how long a finished claim answers retries; after it the key
// may be used again. A day, like the payment APIs clients know.
const claimTTL = "86400"

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

func (s *daprOrderStore) Claim(ctx context.Context, userID, key string) (claim, string, error) {
	item, err := s.client.GetState(ctx, s.store, claimKey(userID, key), nil)
	if err != nil {
		return claim{}, "", sidecar.Err(err, "read idempotency claim")
	}
	if item == nil || len(item.Value) == 0 {
		return claim{}, "", apperr.E(apperr.NotFound, "no claim")
	}
	var c claim
	if err := json.Unmarshal(item.Value, &c); err != nil {
		return claim{}, "", fmt.Errorf("decode idempotency claim: %w", err)
	}
	return c, item.Etag, nil
}

func (s *daprOrderStore) PutClaim(ctx context.Context, userID, key string, c claim, version string) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	meta := map[string]string{"contentType": "application/json", "ttlInSeconds": claimTTL}
	if version == "" {
		err = s.client.SaveState(ctx, s.store, claimKey(userID, key), b, meta, dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite))
	} else {
		err = s.client.SaveStateWithETag(ctx, s.store, claimKey(userID, key), b, version, meta, dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite))
	}
	if sidecar.IsETagMismatch(err) {
		return apperr.Wrap(apperr.Conflict, err, "the idempotency key changed meanwhile")
	}
	return sidecar.Err(err, "save idempotency claim")
}

func (s *daprOrderStore) DeleteClaim(ctx context.Context, userID, key, version string) error {
	err := s.client.DeleteStateWithETag(ctx, s.store, claimKey(userID, key), &dapr.ETag{Value: version}, nil,
		&dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite})
	if sidecar.IsETagMismatch(err) {
		return nil // changed meanwhile: it is someone else's now
	}
	return sidecar.Err(err, "delete idempotency claim")
}

// maxIndexAttempts bounds the retries of a transaction whose user index
// changed under it (the same user placing orders at once). Between tries
// the loser pauses as the barrier does (barrier.Backoff: jittered, so that
// racers fall out of step); without a pause, six orders of one user at
// once on a loaded machine could lose five times in a row (seen here).
const maxIndexAttempts = 16

// Create writes the order insert-only, the user's index (guarded by its
// ETag) and the completed claim (guarded by its own) in one transaction,
// reading the index and the claim in one bulk call first. When the
// transaction fails on an ETag, either the order exists already (Conflict)
// or the index or the claim moved, and the transaction is tried again on
// fresh reads.
func (s *daprOrderStore) Create(ctx context.Context, o Order, key string, response []byte) error {
	order, err := json.Marshal(o)
	if err != nil {
		return err
	}
	keys := []string{indexRecord(o.UserID)}
	if key != "" {
		keys = append(keys, claimKey(o.UserID, key))
	}
	for attempt := range maxIndexAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return sidecar.Err(ctx.Err(), "save order")
			case <-time.After(barrier.Backoff(attempt)):
			}
		}
		items, err := s.client.GetBulkState(ctx, s.store, keys, nil, 0)
		if err != nil {
			return sidecar.Err(err, "read order index and claim")
		}
		read := make(map[string]*dapr.BulkStateItem, len(items))
		for _, it := range items {
			if it.Error != "" {
				return apperr.E(apperr.Unavailable, "read %s: %s", it.Key, it.Error)
			}
			read[it.Key] = it
		}
		var idx userIndex
		indexItem := &dapr.SetStateItem{Key: indexRecord(o.UserID),
			Options: &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite}}
		if it := read[indexRecord(o.UserID)]; it != nil && len(it.Value) > 0 {
			if err := json.Unmarshal(it.Value, &idx); err != nil {
				return fmt.Errorf("decode order index of %s: %w", o.UserID, err)
			}
			indexItem.Etag = &dapr.ETag{Value: it.Etag}
		}
		k := indexKey(o)
		if i, found := slices.BinarySearch(idx.Keys, k); !found {
			idx.Keys = slices.Insert(idx.Keys, i, k)
		}
		if indexItem.Value, err = json.Marshal(idx); err != nil {
			return err
		}
		// No contentType on a transaction's writes: one state store then
		// needs a server module it may not have (docs/dapr-notes.md).
		ops := []*dapr.StateOperation{
			{Type: dapr.StateOperationTypeUpsert, Item: &dapr.SetStateItem{
				Key: orderKey(o.ID), Value: order,
				Options: &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite},
			}},
			{Type: dapr.StateOperationTypeUpsert, Item: indexItem},
		}
		if key != "" {
			op, err := completeClaim(read[claimKey(o.UserID, key)], o.ID, response)
			if err != nil {
				return err
			}
			if op != nil {
				ops = append(ops, op)
			}
		}
		err = s.client.ExecuteStateTransaction(ctx, s.store, nil, ops)
		if err == nil {
			return nil
		}
		// Rolled back whole to break a lock conflict: nothing applied, so
		// it is tried again like a lost ETag race.
		if !sidecar.LostRace(err) {
			return sidecar.Err(err, "save order")
		}
		if _, err := s.Order(ctx, o.ID); err == nil {
			return apperr.E(apperr.Conflict, "order %s exists already", o.ID)
		} else if !apperr.Is(err, apperr.NotFound) {
			return err
		}
	}
	return apperr.E(apperr.Conflict, "too many orders at once for this user; try again")
}

// completeClaim is the write that completes a claim read as item with the
// response of its order orderID, at the version read (a store may refuse an
// unconditional write over a record written first-write: one does,
// docs/dapr-notes.md). None when the claim is gone (its TTL), done, or
// another order's.
func completeClaim(item *dapr.BulkStateItem, orderID string, response []byte) (*dapr.StateOperation, error) {
	if item == nil || len(item.Value) == 0 {
		return nil, nil
	}
	var c claim
	if err := json.Unmarshal(item.Value, &c); err != nil {
		return nil, fmt.Errorf("decode idempotency claim: %w", err)
	}
	if c.Done || c.OrderID != orderID {
		return nil, nil
	}
	c.Done, c.Response = true, response
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return &dapr.StateOperation{Type: dapr.StateOperationTypeUpsert, Item: &dapr.SetStateItem{
		Key: item.Key, Value: b, Etag: &dapr.ETag{Value: item.Etag},
		Metadata: map[string]string{"ttlInSeconds": claimTTL},
		Options:  &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite},
	}}, nil
}

// maxUpdateAttempts bounds the retries of an order update that lost a race.
const maxUpdateAttempts = 8

// Update reads the order with its ETag, applies change and saves it under
// that ETag, again on the fresh order when another write came in between.
func (s *daprOrderStore) Update(ctx context.Context, id string, change func(*Order) error) (Order, error) {
	for range maxUpdateAttempts {
		item, err := s.client.GetState(ctx, s.store, orderKey(id), nil)
		if err != nil {
			return Order{}, sidecar.Err(err, "read order")
		}
		if item == nil || len(item.Value) == 0 {
			return Order{}, apperr.E(apperr.NotFound, "order %s not found", id)
		}
		var o Order
		if err := json.Unmarshal(item.Value, &o); err != nil {
			return Order{}, fmt.Errorf("decode order %s: %w", id, err)
		}
		if err := change(&o); err != nil {
			return Order{}, err
		}
		b, err := json.Marshal(o)
		if err != nil {
			return Order{}, err
		}
		err = s.client.SaveStateWithETag(ctx, s.store, orderKey(id), b, item.Etag, jsonMeta, dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite))
		if err == nil {
			return o, nil
		}
		if !sidecar.LostRace(err) {
			return Order{}, sidecar.Err(err, "save order")
		}
	}
	return Order{}, apperr.E(apperr.Conflict, "order %s changed too often meanwhile; try again", id)
}

func (s *daprOrderStore) Order(ctx context.Context, id string) (Order, error) {
	item, err := s.client.GetState(ctx, s.store, orderKey(id), nil)
	if err != nil {
		return Order{}, sidecar.Err(err, "read order")
	}
	if item == nil || len(item.Value) == 0 {
		return Order{}, apperr.E(apperr.NotFound, "order %s not found", id)
	}
	var o Order
	if err := json.Unmarshal(item.Value, &o); err != nil {
		return Order{}, fmt.Errorf("decode order %s: %w", id, err)
	}
	return o, nil
}

func (s *daprOrderStore) Index(ctx context.Context, userID string) ([]string, error) {
	item, err := s.client.GetState(ctx, s.store, indexRecord(userID), nil)
	if err != nil {
		return nil, sidecar.Err(err, "read order index")
	}
	var idx userIndex
	if item != nil && len(item.Value) > 0 {
		if err := json.Unmarshal(item.Value, &idx); err != nil {
			return nil, fmt.Errorf("decode order index of %s: %w", userID, err)
		}
	}
	return idx.Keys, nil
}

func (s *daprOrderStore) Orders(ctx context.Context, ids []string) ([]Order, error) {
	if len(ids) == 0 {
		return []Order{}, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = orderKey(id)
	}
	items, err := s.client.GetBulkState(ctx, s.store, keys, nil, 0)
	if err != nil {
		return nil, sidecar.Err(err, "read orders")
	}
	byKey := make(map[string]*dapr.BulkStateItem, len(items))
	for _, it := range items {
		byKey[it.Key] = it
	}
	orders := make([]Order, 0, len(ids))
	for _, k := range keys {
		it := byKey[k]
		if it == nil || len(it.Value) == 0 {
			continue
		}
		if it.Error != "" {
			return nil, apperr.E(apperr.Unavailable, "read order %s: %s", strings.TrimPrefix(k, "order-"), it.Error)
		}
		var o Order
		if err := json.Unmarshal(it.Value, &o); err != nil {
			return nil, fmt.Errorf("decode %s: %w", k, err)
		}
		orders = append(orders, o)
	}
	return orders, nil
}
