package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/paging"
)

// claim records that a request with an Idempotency-Key was accepted: the
// fingerprint of its body, the id its order gets, and, once the order is
// saved, the response every retry with the same key gets.
type claim struct {
	Fingerprint string    `json:"fingerprint"`
	OrderID     string    `json:"order_id"`
	StartedAt   time.Time `json:"started_at"`
	Done        bool      `json:"done"`
	// Response is kept as bytes (base64 in JSON), not as nested JSON: a
	// state store may re-encode JSON values (some sort their keys),
	// and a retry must get the same bytes.
	Response []byte `json:"response,omitempty"`
}

// orderStore keeps orders, each user's index of them, and the claims of
// idempotency keys (scoped per user).
type orderStore interface {
	// Claim returns the claim of (userID, key) and its version; a key never
	// used is apperr.NotFound.
	Claim(ctx context.Context, userID, key string) (claim, string, error)
	// PutClaim writes a claim if the stored one is still at version (""
	// means none may exist); otherwise it is apperr.Conflict.
	PutClaim(ctx context.Context, userID, key string, c claim, version string) error
	// DeleteClaim deletes a claim still at version; a changed one stays.
	DeleteClaim(ctx context.Context, userID, key, version string) error
	// Create saves, in one transaction, a new order, its entry in its
	// user's index and, unless key is empty, the claim of key completed
	// with response (when the claim is the order's and not done yet; a
	// claim gone or another's is left alone). An order that exists already
	// is apperr.Conflict, and nothing is written.
	Create(ctx context.Context, o Order, key string, response []byte) error
	// Update applies change to an order and saves it unless it changed
	// meanwhile, trying again on the fresh order a few times: no update is
	// lost. An error from change saves nothing and is returned.
	Update(ctx context.Context, id string, change func(*Order) error) (Order, error)
	// Order reads an order.
	Order(ctx context.Context, id string) (Order, error)
	// Index returns the index keys of a user's orders, sorted (newest first).
	Index(ctx context.Context, userID string) ([]string, error)
	// Orders reads orders by id, in the order asked; missing ones are left out.
	Orders(ctx context.Context, ids []string) ([]Order, error)
}

// product is what orders needs to know of a catalog product.
type product struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
}

// checkouts runs the checkout saga of orders.
type checkouts interface {
	// Start starts the saga of o, placed with Idempotency-Key key, unless it
	// was started already; the saga saves the order. isNew says that no
	// saga of o's id can exist (the id was minted by this request and no
	// start was tried): the saga is then scheduled without a look for an
	// earlier one first.
	Start(ctx context.Context, o Order, key string, isNew bool) error
	// Placed returns the order a saga was started with (the order until the
	// saga saves it) and the steps the saga has taken so far (a pending
	// order's steps: the order is written with them at its end);
	// apperr.NotFound when no saga of orderID exists.
	Placed(ctx context.Context, orderID string) (Order, []Step, error)
	// Cancel asks the saga of an order to stop and compensate.
	Cancel(ctx context.Context, orderID string) error
}

// catalog prices products; an unknown product is apperr.NotFound.
type catalog interface {
	Product(ctx context.Context, id string) (product, error)
}

// inFlightLease is how long a claim whose request has not finished holds its
// key. Another request with the key meanwhile is told the first is in
// flight (409); after it, the request is taken to have died and the claim
// is taken over, with the same order id, so one key never makes two orders.
const inFlightLease = 30 * time.Second

// placeTimeout bounds a request that places an order, which does not stop
// when the client leaves.
const placeTimeout = 15 * time.Second

// startAttempts and startPause: a saga's start is tried up to 4 times,
// pausing about 100, 200 and 400 ms (jittered, so that a burst of
// checkouts falls out of step).
const (
	startAttempts = 4
	startPause    = 100 * time.Millisecond
)

// lookups bounds the catalog calls one order makes at once.
const lookups = 4

// service holds the use cases of the orders service.
type service struct {
	store     orderStore
	catalog   catalog
	checkouts checkouts
	now       func() time.Time
	newID     func() string
}

func newService(store orderStore, cat catalog, co checkouts, now func() time.Time, newID func() string) *service {
	return &service{store: store, catalog: cat, checkouts: co, now: now, newID: newID}
}

// Place places an order for userID once per Idempotency-Key and returns
// the response body of the 202 that accepted it: the same bytes for every
// retry with the same key and body.
func (s *service) Place(ctx context.Context, userID, key string, req placeOrder) (json.RawMessage, error) {
	if !isCanonicalUUID(userID) {
		return nil, apperr.InvalidFields(apperr.FieldError{Field: "user id", Detail: "must be a UUID"})
	}
	if key == "" {
		return nil, apperr.InvalidFields(apperr.FieldError{Field: "Idempotency-Key", Detail: "header is required: a unique value per order, reused only to retry it"})
	}
	if !validIdempotencyKey(key) {
		return nil, apperr.InvalidFields(apperr.FieldError{Field: "Idempotency-Key", Detail: "must be 1 to 255 visible ASCII characters"})
	}
	// Once begun, a checkout runs to its end even when the client gives up
	// (under load the gateway's sidecar times a checkout out at 4 s and
	// retries it). Cancelled half-way, it is work thrown away that holds the
	// key: a claim or take-over whose write landed keeps the key in flight
	// for its whole lease (30 s), and a saga's start cancelled between
	// daprd's two writes leaves a reminder without an instance (daprd
	// 1.18.2 logs "No workflow state found ... terminating execution").
	// Bounded well inside the lease, so that a take-over never runs beside
	// a request still going.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), placeTimeout)
	defer cancel()
	// The key is claimed with an insert that fails if it was claimed
	// before: a new key, by far the most common, costs one write and no
	// read. Only a key used before is read, to answer its retry or take it
	// over.
	fp := req.fingerprint()
	c := claim{Fingerprint: fp, OrderID: s.newID(), StartedAt: s.now().UTC()}
	isNew := true
	err := s.store.PutClaim(ctx, userID, key, c, "")
	switch {
	case apperr.Is(err, apperr.Conflict):
		held, resp, err := s.takeOver(ctx, userID, key, fp)
		if resp != nil || err != nil {
			return resp, err
		}
		c, isNew = held, false
	case err != nil:
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}

	items, err := s.price(ctx, req.Items)
	if err != nil {
		// Nothing was started: free the key so that a retry runs again,
		// unless another request took it over meanwhile. The client may be
		// gone: do it regardless.
		s.release(context.WithoutCancel(ctx), userID, key, c)
		return nil, err
	}
	// From here on the key is kept even on failure: a start that timed out
	// may have started the saga, and a retry must find the same order id
	// (after the lease, by taking the claim over).
	return s.create(ctx, key, c, userID, items, isNew)
}

// takeOver answers a request whose key was claimed before: with the first
// request's response once it finished, 422 when the body differs, 409 while
// the first is in flight. A claim older than its lease was left by a
// request that died: it is taken over, with its order id, and returned for
// this request to go on with.
func (s *service) takeOver(ctx context.Context, userID, key, fingerprint string) (claim, json.RawMessage, error) {
	held, version, err := s.store.Claim(ctx, userID, key)
	switch {
	case apperr.Is(err, apperr.NotFound):
		return claim{}, nil, errInFlight // released by a failed first request a moment ago
	case err != nil:
		return claim{}, nil, fmt.Errorf("read idempotency key: %w", err)
	}
	if resp, err := answer(held, fingerprint); resp != nil || !errors.Is(err, errInFlight) {
		return claim{}, resp, err
	}
	// In flight, but its saga may have started (the saga completes the claim
	// when it saves the order, a moment later): then the order as placed is
	// the answer, the same bytes as the first request's 202.
	if resp, err := s.placed(ctx, held.OrderID); resp != nil || err != nil {
		return claim{}, resp, err
	}
	if s.now().Sub(held.StartedAt) < inFlightLease {
		return claim{}, nil, errInFlight
	}
	held.StartedAt = s.now().UTC() // the first request died: take over, same order id
	if err := s.store.PutClaim(ctx, userID, key, held, version); err != nil {
		if apperr.Is(err, apperr.Conflict) {
			resp, err := s.replay(ctx, userID, key, fingerprint)
			return claim{}, resp, err
		}
		return claim{}, nil, fmt.Errorf("take over idempotency key: %w", err)
	}
	return held, nil, nil
}

// placed is the 202 of an order whose saga has started, or nil when none
// has.
func (s *service) placed(ctx context.Context, orderID string) (json.RawMessage, error) {
	o, _, err := s.checkouts.Placed(ctx, orderID)
	switch {
	case apperr.Is(err, apperr.NotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read checkout of order %s: %w", orderID, err)
	}
	resp, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode order: %w", err)
	}
	return resp, nil
}

// errInFlight answers a request whose key is held by one still running.
var errInFlight = apperr.E(apperr.Conflict, "a request with this Idempotency-Key is still being processed; retry it shortly")

// answer is the response to a retry that finds claim c: the stored response
// when the first request finished, 422 when the body differs, errInFlight
// otherwise.
func answer(c claim, fingerprint string) (json.RawMessage, error) {
	switch {
	case c.Fingerprint != fingerprint:
		return nil, apperr.E(apperr.Unprocessable, "this Idempotency-Key was used for a different order; use a new key for a new order")
	case c.Done:
		return json.RawMessage(c.Response), nil
	default:
		return nil, errInFlight
	}
}

// replay answers a request that lost the race for its key.
func (s *service) replay(ctx context.Context, userID, key, fingerprint string) (json.RawMessage, error) {
	c, _, err := s.store.Claim(ctx, userID, key)
	if apperr.Is(err, apperr.NotFound) {
		return nil, errInFlight // released by a failed first request a moment ago
	}
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	return answer(c, fingerprint)
}

// create starts the order's checkout saga and answers with the order as
// placed. The saga is the one creator of the order: its first activity
// saves the order, its entry in the user's index and the completed claim in
// one transaction, so nothing is written here, and an order whose request
// died after the start is saved all the same.
func (s *service) create(ctx context.Context, key string, c claim, userID string, items []Item, isNew bool) (json.RawMessage, error) {
	o := Order{ID: c.OrderID, UserID: userID, Status: StatusPending, Items: items, CreatedAt: s.now().UTC(), Steps: []Step{}}
	for _, it := range items {
		o.TotalCents += it.PriceCents * it.Quantity
	}
	resp, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode order: %w", err)
	}
	if err := s.start(ctx, o, key, isNew); err != nil {
		return nil, fmt.Errorf("start checkout of order %s: %w", o.ID, err)
	}
	return resp, nil
}

// start starts o's saga, again after a pause while the workflow engine
// is unavailable (its store busy, as a file store is under a burst
// of checkouts). Start is idempotent per order, so a retry after a start
// that did happen finds it (a retry never counts as new). Without this, the
// client's retry would wait out the key's lease.
func (s *service) start(ctx context.Context, o Order, key string, isNew bool) error {
	err := s.checkouts.Start(ctx, o, key, isNew)
	for attempt := 1; attempt < startAttempts && apperr.Is(err, apperr.Unavailable); attempt++ {
		pause := startPause << (attempt - 1)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause/2 + rand.N(pause/2)):
		}
		err = s.checkouts.Start(ctx, o, key, false)
	}
	return err
}

// price looks every line up in the catalog, a few at a time.
func (s *service) price(ctx context.Context, lines []line) ([]Item, error) {
	items := make([]Item, len(lines))
	var (
		unknown = make([]bool, len(lines))
		g, gctx = errgroup.WithContext(ctx)
	)
	g.SetLimit(lookups)
	for i, l := range lines {
		g.Go(func() error {
			p, err := s.catalog.Product(gctx, l.ProductID)
			if apperr.Is(err, apperr.NotFound) {
				unknown[i] = true
				return nil
			}
			if err != nil {
				return fmt.Errorf("price %s: %w", l.ProductID, err)
			}
			items[i] = Item{ProductID: p.ID, Name: p.Name, Quantity: l.Quantity, PriceCents: p.PriceCents}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var bad []apperr.FieldError
	for i, u := range unknown {
		if u {
			bad = append(bad, apperr.FieldError{Field: fmt.Sprintf("items[%d].product_id", i), Detail: "no such product in the catalog"})
		}
	}
	if len(bad) > 0 {
		e := apperr.InvalidFields(bad...)
		e.Kind = apperr.Unprocessable
		return nil, e
	}
	return items, nil
}

// release deletes claim c of key unless it changed since; a failure only
// delays a retry until the lease ends, so it is not reported.
func (s *service) release(ctx context.Context, userID, key string, c claim) {
	held, version, err := s.store.Claim(ctx, userID, key)
	if err != nil || held.Done || held.OrderID != c.OrderID || !held.StartedAt.Equal(c.StartedAt) {
		return
	}
	_ = s.store.DeleteClaim(ctx, userID, key, version)
}

// Order returns one of userID's orders. Another user's order is not found,
// exactly like a missing one: its existence is not the caller's business.
func (s *service) Order(ctx context.Context, userID, orderID string) (Order, error) {
	if !isCanonicalUUID(userID) {
		return Order{}, apperr.InvalidFields(apperr.FieldError{Field: "user id", Detail: "must be a UUID"})
	}
	if !isCanonicalUUID(orderID) {
		return Order{}, apperr.InvalidFields(apperr.FieldError{Field: "id", Detail: "must be an order id (a lower-case UUID)"})
	}
	o, err := s.store.Order(ctx, orderID)
	var (
		steps  []Step
		looked bool
	)
	if apperr.Is(err, apperr.NotFound) {
		// Placed a moment ago, its saga has not saved it yet: the order is
		// the saga's input until then (a client that reads its order right
		// after the 202 finds it). Only a miss costs this look.
		o, steps, err = s.checkouts.Placed(ctx, orderID)
		looked = true
	}
	if err != nil {
		return Order{}, fmt.Errorf("order %s: %w", orderID, err)
	}
	if o.UserID != userID {
		return Order{}, apperr.E(apperr.NotFound, "order %s not found", orderID)
	}
	if o.Status != StatusPending {
		return o, nil
	}
	// A pending order's steps so far are its saga's: they are written on
	// the order with its end.
	if !looked {
		_, steps, err = s.checkouts.Placed(ctx, orderID)
		switch {
		case apperr.Is(err, apperr.NotFound):
			steps = o.Steps // no saga to ask (an order of an earlier version)
		case err != nil:
			return Order{}, fmt.Errorf("progress of order %s: %w", orderID, err)
		}
	}
	o.Steps = append([]Step{}, steps...)
	return o, nil
}

// Orders returns a page of userID's orders, newest first, and the cursor of
// the next page (empty on the last).
func (s *service) Orders(ctx context.Context, userID string, p paging.Page) ([]Order, string, error) {
	if !isCanonicalUUID(userID) {
		return nil, "", apperr.InvalidFields(apperr.FieldError{Field: "user id", Detail: "must be a UUID"})
	}
	keys, err := s.store.Index(ctx, userID)
	if err != nil {
		return nil, "", fmt.Errorf("orders of %s: %w", userID, err)
	}
	page, next := paging.Slice(keys, p)
	ids := make([]string, len(page))
	for i, k := range page {
		ids[i] = orderIDOf(k)
	}
	orders, err := s.store.Orders(ctx, ids)
	if err != nil {
		return nil, "", fmt.Errorf("orders of %s: %w", userID, err)
	}
	return orders, next, nil
}

// Cancel asks for one of userID's pending orders to be cancelled: the saga
// stops and undoes what it did. A cancelled order stays cancelled (the
// request is idempotent); a completed one can no longer be cancelled.
func (s *service) Cancel(ctx context.Context, userID, orderID string) (Order, error) {
	o, err := s.Order(ctx, userID, orderID)
	if err != nil {
		return Order{}, err
	}
	switch o.Status {
	case StatusCancelled:
		return o, nil
	case StatusCompleted:
		return Order{}, apperr.E(apperr.Conflict, "order %s is completed and can no longer be cancelled", orderID)
	}
	if err := s.checkouts.Cancel(ctx, orderID); err != nil {
		return Order{}, fmt.Errorf("cancel order %s: %w", orderID, err)
	}
	return o, nil
}
