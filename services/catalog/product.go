package main

import (
	"errors"
	"regexp"
)

// Product is an item the shop sells, with its stock. Prices are integer
// cents, never floats.
type Product struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Stock      Stock  `json:"stock"`
}

// Stock counts a product's units by where they are in a sale, so that the
// reservations of a saga (TCC: try, confirm, cancel) are plain moves between
// the counts. A unit is never created or destroyed by a move: Available +
// Reserved + Sold stays the same for a product whatever the moves, which is
// what a test can check after any number of concurrent ones. Units come in
// only by a goods receipt (Receive), recorded once per receipt id.
type Stock struct {
	Available int64 `json:"available"` // can be reserved
	Reserved  int64 `json:"reserved"`  // held by reservations not yet confirmed or cancelled
	Sold      int64 `json:"sold"`      // confirmed; gone for good
}

var (
	// ErrOutOfStock is returned by a move that needs more units than its
	// source count holds.
	ErrOutOfStock = errors.New("not enough stock")
	// ErrBadMove is returned by a move of zero or fewer units, and by a
	// change of stock that breaks the invariant.
	ErrBadMove = errors.New("invalid stock move")
)

// Total is the number of units the product has, wherever they are.
func (s Stock) Total() int64 { return s.Available + s.Reserved + s.Sold }

// Reserve moves n units from available to reserved (a reservation's try).
func (s *Stock) Reserve(n int64) error { return move(&s.Available, &s.Reserved, n) }

// Confirm moves n units from reserved to sold (a reservation's confirm).
func (s *Stock) Confirm(n int64) error { return move(&s.Reserved, &s.Sold, n) }

// Release moves n units from reserved back to available (a reservation's
// cancel, or its expiry).
func (s *Stock) Release(n int64) error { return move(&s.Reserved, &s.Available, n) }

// Receive adds n units to available (goods received into the warehouse):
// the one change that makes units, and only by a recorded receipt.
func (s *Stock) Receive(n int64) error {
	if n <= 0 {
		return ErrBadMove
	}
	s.Available += n
	return nil
}

func move(from, to *int64, n int64) error {
	if n <= 0 {
		return ErrBadMove
	}
	if *from < n {
		return ErrOutOfStock
	}
	*from -= n
	*to += n
	return nil
}

// checkChange reports whether after can follow before: no count negative,
// and no unit created or destroyed.
func checkChange(before, after Stock) error {
	if after.Available < 0 || after.Reserved < 0 || after.Sold < 0 || after.Total() != before.Total() {
		return ErrBadMove
	}
	return nil
}

// maxIDLen bounds a product id, in bytes.
const maxIDLen = 64

var idPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// validID accepts product ids in their one stored form: a lower-case slug
// such as espresso-beans-1kg. Anything else cannot name a product, so it is
// refused before it reaches the store.
func validID(id string) bool {
	return len(id) <= maxIDLen && idPattern.MatchString(id)
}
