package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/state"
)

var _ productStore = (*stateProductStore)(nil)

// stateProductStore keeps products in a state store, one record per product
// (its stock included, so that a stock change is one write guarded by one
// ETag) and one index record listing every product id, because a state
// store cannot list its keys portably. The reservations write the same
// product records in their own transactions.
type stateProductStore struct {
	records state.Store
}

func newStateProductStore(records state.Store) *stateProductStore {
	return &stateProductStore{records: records}
}

const indexKey = "product-index"

func productKey(id string) string { return "product-" + id }

// indexRecord is the stored index: the product ids, sorted.
type indexRecord struct {
	IDs []string `json:"ids"`
}

// Get reads a product.
func (s *stateProductStore) Get(ctx context.Context, id string) (Product, error) {
	p, err := state.Read[Product](ctx, s.records, productKey(id))
	if err != nil {
		return Product{}, fmt.Errorf("read product %s: %w", id, err)
	}
	if !p.Found {
		return Product{}, apperr.E(apperr.NotFound, "product %s not found", id)
	}
	return p.Value, nil
}

// GetMany reads the products in one bulk call; unknown ids are left out.
func (s *stateProductStore) GetMany(ctx context.Context, ids []string) ([]Product, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = productKey(id)
	}
	items, err := s.records.Get(ctx, keys...)
	if err != nil {
		return nil, fmt.Errorf("read products: %w", err)
	}
	products := make([]Product, 0, len(ids))
	for _, k := range keys {
		p, err := state.Lookup[Product](items, k)
		if err != nil {
			return nil, err
		}
		if p.Found {
			products = append(products, p.Value)
		}
	}
	return products, nil
}

// Index reads the ids of every product; before the first seed there are
// none.
func (s *stateProductStore) Index(ctx context.Context) ([]string, error) {
	idx, err := s.readIndex(ctx)
	return idx.Value.IDs, err
}

func (s *stateProductStore) readIndex(ctx context.Context) (state.Record[indexRecord], error) {
	idx, err := state.Read[indexRecord](ctx, s.records, indexKey)
	if err != nil {
		return idx, fmt.Errorf("read the product index: %w", err)
	}
	if idx.Value.IDs == nil {
		idx.Value.IDs = []string{}
	}
	return idx, nil
}

// Seed writes each product insert-only, so that a product already there,
// whose stock may have moved, is kept as it is; then it adds the ids to the
// index.
func (s *stateProductStore) Seed(ctx context.Context, products []Product) error {
	ids := make([]string, 0, len(products))
	for _, p := range products {
		op, err := state.Insert(productKey(p.ID), p)
		if err != nil {
			return err
		}
		err = s.records.Put(ctx, op)
		if err != nil && !errors.Is(err, state.ErrConflict) { // a conflict: the product exists
			return fmt.Errorf("seed product %s: %w", p.ID, err)
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
func (s *stateProductStore) addToIndex(ctx context.Context, ids []string) error {
	err := state.Retries{Attempts: indexAttempts}.Do(ctx, func(ctx context.Context) error {
		idx, err := s.readIndex(ctx)
		if err != nil {
			return err
		}
		merged := union(idx.Value.IDs, ids)
		if slices.Equal(merged, idx.Value.IDs) {
			return nil
		}
		idx.Value.IDs = merged
		op, err := idx.Write()
		if err != nil {
			return err
		}
		return s.records.Put(ctx, op)
	})
	if errors.Is(err, state.ErrConflict) {
		return apperr.Wrap(apperr.Conflict, err, "the product index changed %d times while merging; try again", indexAttempts)
	}
	return err
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
func (s *stateProductStore) UpdateStock(ctx context.Context, id string, change func(*Stock) error) (Product, error) {
	var p state.Record[Product]
	err := state.Retries{Attempts: stockAttempts}.Do(ctx, func(ctx context.Context) error {
		var err error
		if p, err = state.Read[Product](ctx, s.records, productKey(id)); err != nil {
			return fmt.Errorf("read product %s: %w", id, err)
		}
		if !p.Found {
			return apperr.E(apperr.NotFound, "product %s not found", id)
		}
		if err := change(&p.Value.Stock); err != nil {
			return err
		}
		op, err := p.Write()
		if err != nil {
			return err
		}
		return s.records.Put(ctx, op)
	})
	if errors.Is(err, state.ErrConflict) {
		return Product{}, apperr.Wrap(apperr.Conflict, err, "the stock of %s changed %d times while updating; try again", id, stockAttempts)
	}
	if err != nil {
		return Product{}, err
	}
	return p.Value, nil
}

// receiptKey is where a product's goods receipt is recorded.
func receiptKey(product, receipt string) string { return "receipt-" + product + "_" + receipt }

// Receive reads the product and the receipt in one round trip; a receipt
// not recorded yet is inserted (first write only) in the same transaction
// as the product with its units added, guarded by the product's ETag. A
// race lost to another write of the product, or to the same receipt
// recorded at once by another request, starts over from a fresh read.
func (s *stateProductStore) Receive(ctx context.Context, id string, r Receipt) (Product, error) {
	var p state.Record[Product]
	err := state.Retries{Attempts: stockAttempts}.Do(ctx, func(ctx context.Context) error {
		pk, rk := productKey(id), receiptKey(id, r.ID)
		items, err := s.records.Get(ctx, pk, rk)
		if err != nil {
			return fmt.Errorf("read product %s and receipt %s: %w", id, r.ID, err)
		}
		if p, err = state.Lookup[Product](items, pk); err != nil {
			return err
		}
		if !p.Found {
			return apperr.E(apperr.NotFound, "product %s not found", id)
		}
		had, err := state.Lookup[Receipt](items, rk)
		if err != nil {
			return err
		}
		if had.Found {
			if had.Value.Units != r.Units {
				return apperr.E(apperr.Conflict, "receipt %s of %s was recorded with %d units, not %d", r.ID, id, had.Value.Units, r.Units)
			}
			return nil // recorded already: a retry of the same request
		}
		if err := p.Value.Stock.Receive(r.Units); err != nil {
			return err
		}
		ops, err := state.Ops(p.Write, func() (state.Op, error) { return state.Insert(rk, r) })
		if err != nil {
			return err
		}
		return s.records.Transact(ctx, ops)
	})
	if errors.Is(err, state.ErrConflict) {
		return Product{}, apperr.Wrap(apperr.Conflict, err, "the stock of %s changed %d times while receiving; try again", id, stockAttempts)
	}
	if err != nil {
		return Product{}, err
	}
	return p.Value, nil
}
