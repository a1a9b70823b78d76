package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/sidecar"
)

var _ productStore = (*daprProductStore)(nil)

// daprProductStore keeps products in a Dapr state store, one record per
// product (its stock included, so that a stock change is one write guarded
// by one ETag) and one index record listing every product id, because a
// state store cannot list its keys portably.
type daprProductStore struct {
	client dapr.Client
	store  string
}

func newDaprProductStore(client dapr.Client, store string) *daprProductStore {
	return &daprProductStore{client: client, store: store}
}

const indexKey = "product-index"

func productKey(id string) string { return "product-" + id }

var jsonMeta = map[string]string{"contentType": "application/json"}

// indexRecord is the stored index: the product ids, sorted.
type indexRecord struct {
	IDs []string `json:"ids"`
}

// Get reads a product.
func (s *daprProductStore) Get(ctx context.Context, id string) (Product, error) {
	item, err := s.client.GetState(ctx, s.store, productKey(id), nil)
	if err != nil {
		return Product{}, sidecar.Err(err, "read product")
	}
	if item == nil || len(item.Value) == 0 {
		return Product{}, apperr.E(apperr.NotFound, "product %s not found", id)
	}
	return decodeProduct(id, item.Value)
}

// bulkParallelism bounds the reads daprd runs at once for a store that has
// no bulk read of its own (a store with one ignores it).
const bulkParallelism = 8

// GetMany reads the products in one bulk call to the sidecar.
func (s *daprProductStore) GetMany(ctx context.Context, ids []string) ([]Product, error) {
	if len(ids) == 0 {
		return []Product{}, nil // the go-sdk refuses an empty bulk read
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = productKey(id)
	}
	items, err := s.client.GetBulkState(ctx, s.store, keys, nil, bulkParallelism)
	if err != nil {
		return nil, sidecar.Err(err, "read products")
	}
	byKey := make(map[string][]byte, len(items))
	for _, it := range items {
		if it.Error != "" {
			return nil, apperr.Wrap(apperr.Unavailable, fmt.Errorf("key %s: %s", it.Key, it.Error), "read products")
		}
		if len(it.Value) > 0 {
			byKey[it.Key] = it.Value
		}
	}
	products := make([]Product, 0, len(ids))
	for i, id := range ids {
		v, ok := byKey[keys[i]]
		if !ok {
			continue
		}
		p, err := decodeProduct(id, v)
		if err != nil {
			return nil, err
		}
		products = append(products, p)
	}
	return products, nil
}

// Index reads the ids of every product; before the first seed there are
// none.
func (s *daprProductStore) Index(ctx context.Context) ([]string, error) {
	idx, _, err := s.readIndex(ctx)
	return idx.IDs, err
}

func (s *daprProductStore) readIndex(ctx context.Context) (indexRecord, string, error) {
	item, err := s.client.GetState(ctx, s.store, indexKey, nil)
	if err != nil {
		return indexRecord{}, "", sidecar.Err(err, "read product index")
	}
	idx := indexRecord{IDs: []string{}}
	if item == nil || len(item.Value) == 0 {
		return idx, "", nil
	}
	if err := json.Unmarshal(item.Value, &idx); err != nil {
		return indexRecord{}, "", fmt.Errorf("decode product index: %w", err)
	}
	if idx.IDs == nil {
		idx.IDs = []string{}
	}
	return idx, item.Etag, nil
}

// Seed writes each product insert-only (first-write, no ETag), so that a
// product already there, whose stock may have moved, is kept as it is; then
// it adds the ids to the index.
func (s *daprProductStore) Seed(ctx context.Context, products []Product) error {
	ids := make([]string, 0, len(products))
	for _, p := range products {
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		err = s.client.SaveState(ctx, s.store, productKey(p.ID), b, jsonMeta,
			dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite))
		if err != nil && !sidecar.IsETagMismatch(err) { // a mismatch: the product exists
			return sidecar.Err(err, "seed product %s", p.ID)
		}
		ids = append(ids, p.ID)
	}
	return s.addToIndex(ctx, ids)
}

// indexAttempts bounds the read-merge-write rounds of addToIndex.
const indexAttempts = 10

// addToIndex merges ids into the index with optimistic concurrency: the
// index is read with its ETag and written back as the sorted union only if
// nobody wrote it since (insert-only when there was none), else merged
// again. Two instances seeding at once both end up listed.
func (s *daprProductStore) addToIndex(ctx context.Context, ids []string) error {
	for range indexAttempts {
		idx, etag, err := s.readIndex(ctx)
		if err != nil {
			return err
		}
		merged := union(idx.IDs, ids)
		if slices.Equal(merged, idx.IDs) {
			return nil
		}
		b, err := json.Marshal(indexRecord{IDs: merged})
		if err != nil {
			return err
		}
		err = s.client.SaveStateWithETag(ctx, s.store, indexKey, b, etag, jsonMeta,
			dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite))
		if sidecar.IsETagMismatch(err) {
			continue
		}
		return sidecar.Err(err, "write product index")
	}
	return apperr.E(apperr.Conflict, "the product index changed %d times while merging; try again", indexAttempts)
}

// union returns the sorted ids of a and b, each once.
func union(a, b []string) []string {
	u := slices.Concat(a, b)
	slices.Sort(u)
	return slices.Compact(u)
}

// UpdateStock reads the product with its ETag, applies change and writes it
// back only if the ETag still matches; on a mismatch it starts over from a
// fresh read, so that a concurrent change is never overwritten.
func (s *daprProductStore) UpdateStock(ctx context.Context, id string, change func(*Stock) error) (Product, error) {
	for range stockAttempts {
		item, err := s.client.GetState(ctx, s.store, productKey(id), nil)
		if err != nil {
			return Product{}, sidecar.Err(err, "read product")
		}
		if item == nil || len(item.Value) == 0 {
			return Product{}, apperr.E(apperr.NotFound, "product %s not found", id)
		}
		p, err := decodeProduct(id, item.Value)
		if err != nil {
			return Product{}, err
		}
		if err := change(&p.Stock); err != nil {
			return Product{}, err
		}
		b, err := json.Marshal(p)
		if err != nil {
			return Product{}, err
		}
		err = s.client.SaveStateWithETag(ctx, s.store, productKey(id), b, item.Etag, jsonMeta,
			dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite))
		if sidecar.LostRace(err) {
			continue
		}
		if err != nil {
			return Product{}, sidecar.Err(err, "write stock of %s", id)
		}
		return p, nil
	}
	return Product{}, apperr.E(apperr.Conflict, "the stock of %s changed %d times while updating; try again", id, stockAttempts)
}

func decodeProduct(id string, b []byte) (Product, error) {
	var p Product
	if err := json.Unmarshal(b, &p); err != nil {
		return Product{}, fmt.Errorf("decode product %s: %w", id, err)
	}
	return p, nil
}
