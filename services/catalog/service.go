package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/paging"
)

// productStore keeps products and the index of their ids.
//
// Index returns every product id, sorted ascending. GetMany returns the
// products of the given (distinct) ids that exist, in the order asked.
// Seed writes each product unless one with its id exists (a restart never
// resets stock that has moved) and adds the ids to the index. UpdateStock
// applies change to the product's current stock and saves it only if no
// other write came in between, trying again on the fresh record up to
// stockAttempts times before it gives up with apperr.Conflict: no update is
// ever lost, and an error from change writes nothing. Receive records a
// goods receipt and adds its units to the product's available stock in one
// transaction, once per receipt id: a receipt recorded already with the
// same units changes nothing (a retried request), with other units it is
// an apperr.Conflict.
type productStore interface {
	Get(ctx context.Context, id string) (Product, error)
	GetMany(ctx context.Context, ids []string) ([]Product, error)
	Index(ctx context.Context) ([]string, error)
	Seed(ctx context.Context, products []Product) error
	UpdateStock(ctx context.Context, id string, change func(*Stock) error) (Product, error)
	Receive(ctx context.Context, id string, r Receipt) (Product, error)
}

// stockAttempts is how many times UpdateStock reads and writes a product
// before it reports a conflict. A write fails only when another one
// succeeded since the read, so a change gives up only after stockAttempts
// others got in first: up to stockAttempts single changes racing on one
// product all succeed.
const stockAttempts = 10

// service holds the use cases of the catalog service.
type service struct {
	store  productStore
	seeded atomic.Bool
}

func newService(store productStore) *service {
	return &service{store: store}
}

// Seed writes the starting catalog (see seedProducts), keeping every
// product already there as it is, and from then on lets the catalog serve.
func (s *service) Seed(ctx context.Context, products []Product) error {
	if err := s.store.Seed(ctx, products); err != nil {
		return fmt.Errorf("seed %d products: %w", len(products), err)
	}
	s.seeded.Store(true)
	return nil
}

// errNotSeeded is why the catalog is not ready: readiness and reads say so
// until the seed has been written.
var errNotSeeded = errors.New("the catalog is not seeded yet")

// Ready reports whether the seed has completed.
func (s *service) Ready(context.Context) error {
	if !s.seeded.Load() {
		return apperr.Wrap(apperr.Unavailable, errNotSeeded, "the catalog is not seeded yet")
	}
	return nil
}

// requireSeeded refuses reads before the seed is written: until then the
// index is missing or partial, and a list would be wrong rather than empty.
func (s *service) requireSeeded() error {
	if !s.seeded.Load() {
		return apperr.Wrap(apperr.Unavailable, errNotSeeded, "the catalog is starting; try again shortly")
	}
	return nil
}

// List returns one page of products, sorted by id, and the cursor of the
// next page (empty on the last).
func (s *service) List(ctx context.Context, p paging.Page) ([]Product, string, error) {
	if err := s.requireSeeded(); err != nil {
		return nil, "", err
	}
	ids, err := s.store.Index(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("list products: %w", err)
	}
	page, next := paging.Slice(ids, p)
	if len(page) == 0 {
		return []Product{}, next, nil
	}
	products, err := s.store.GetMany(ctx, page)
	if err != nil {
		return nil, "", fmt.Errorf("list products: %w", err)
	}
	return products, next, nil
}

// Product returns one product.
func (s *service) Product(ctx context.Context, id string) (Product, error) {
	if err := checkID(id); err != nil {
		return Product{}, err
	}
	if err := s.requireSeeded(); err != nil {
		return Product{}, err
	}
	p, err := s.store.Get(ctx, id)
	if err != nil {
		return Product{}, fmt.Errorf("product %s: %w", id, err)
	}
	return p, nil
}

// UpdateStock changes a product's stock with change (a Reserve, Confirm or
// Release), which may run more than once. A change that would create or
// destroy units is refused; one that needs more units than there are is a
// conflict.
func (s *service) UpdateStock(ctx context.Context, id string, change func(*Stock) error) (Product, error) {
	if err := checkID(id); err != nil {
		return Product{}, err
	}
	if err := s.requireSeeded(); err != nil {
		return Product{}, err
	}
	p, err := s.store.UpdateStock(ctx, id, func(st *Stock) error {
		before := *st
		if err := change(st); err != nil {
			return err
		}
		return checkChange(before, *st)
	})
	switch {
	case errors.Is(err, ErrOutOfStock):
		return Product{}, apperr.Wrap(apperr.Conflict, err, "not enough stock of %s", id)
	case err != nil:
		return Product{}, fmt.Errorf("update stock of %s: %w", id, err)
	}
	return p, nil
}

func checkID(id string) error {
	if !validID(id) {
		return apperr.InvalidFields(apperr.FieldError{Field: "id", Detail: fmt.Sprintf("must be a lower-case slug such as espresso-beans-1kg, at most %d bytes", maxIDLen)})
	}
	return nil
}
