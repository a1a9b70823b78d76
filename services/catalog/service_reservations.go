package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/barrier"
	"github.com/daprshop/daprshop/internal/state"
)

// reservations holds the use cases of the catalog as the stock participant
// of the checkout saga: try (reserve), confirm (sell) and cancel (release)
// per order, each idempotent per (order, op) behind the barrier, whose
// records commit in the same state transaction as the stock they move.
//
// The state store holds, next to the products (product-<id>, the records the
// productStore keeps):
//
//   - reservation-<order>: the Reservation;
//   - reservation-held-<nn>: 16 shards of the index of held reservations
//     (order id → expiry), so that the sweeper and the list of held
//     reservations need no query API, and 200 concurrent checkouts do not
//     all write one record;
//   - barrier-<order>-reserve-<op>: the barrier's records.
//
// A try writes, in one transaction, every product of the order under its
// ETag, the reservation (insert-only), its shard of the index (under its
// ETag) and the barrier record; confirm, cancel and expiry write the
// products, the reservation and the shard under their ETags. So a
// reservation is in the index exactly while it holds stock, and a
// transaction that lost a race writes nothing and runs again on fresh
// records: available + reserved + sold never changes for a product.
type reservations struct {
	state    state.Store
	barrier  *barrier.Barrier
	products productStore        // uncached: the stock listing reads the store
	forget   func(ids ...string) // drops products from the read cache
	now      func() time.Time
	ttl      time.Duration
	seeded   func() error
}

func newReservations(state state.Store, products productStore, forget func(ids ...string), now func() time.Time, ttl time.Duration, seeded func() error, opts ...barrier.Option) *reservations {
	return &reservations{
		state:    state,
		barrier:  barrier.New(state, now, opts...),
		products: products,
		forget:   forget,
		now:      now,
		ttl:      ttl,
		seeded:   seeded,
	}
}

// reserveBranch is the barrier's name for the catalog's step of a saga.
const reserveBranch = "reserve"

// settled is the answer to a confirm or a cancel.
type settled struct {
	OrderID string            `json:"order_id"`
	Status  ReservationStatus `json:"status"`
}

// Try reserves the lines for the order: every line or none. It returns the
// reservation as first made (a repeat gets the same answer). Not enough
// stock or an unknown product is apperr.Unprocessable; a try that comes
// after the order's cancel is apperr.Conflict, and so is a repeat with
// other lines.
func (r *reservations) Try(ctx context.Context, orderID string, lines []Line) (Reservation, error) {
	if err := checkOrderID(orderID); err != nil {
		return Reservation{}, err
	}
	if err := validateLines(lines); err != nil {
		return Reservation{}, err
	}
	if err := r.seeded(); err != nil {
		return Reservation{}, err
	}
	out, err := r.do(ctx, orderID, barrier.Try, r.reserve(orderID, lines))
	// Even on failure: a transaction that timed out may have committed.
	r.forget(productIDs(lines)...)
	if err != nil {
		return Reservation{}, fmt.Errorf("reserve stock for order %s: %w", orderID, err)
	}
	if out.Blocked {
		return Reservation{}, apperr.E(apperr.Conflict, "the reservation was cancelled: a cancel of order %s came before its try", orderID)
	}
	var res Reservation
	if err := json.Unmarshal(out.Result, &res); err != nil {
		return Reservation{}, fmt.Errorf("decode the reservation of order %s: %w", orderID, err)
	}
	if !sameLines(res.Items, lines) {
		return Reservation{}, apperr.E(apperr.Conflict, "order %s has a reservation of other items", orderID)
	}
	return res, nil
}

// reserve is the work of a try: from the products, the reservation and its
// index shard (read with the barrier's records) it returns the reservation
// and the writes that make it.
func (r *reservations) reserve(orderID string, lines []Line) barrier.Work {
	resKey, shardKey := reservationKey(orderID), heldShardOf(orderID)
	keys := make([]string, 0, len(lines)+2)
	for _, l := range lines {
		keys = append(keys, productKey(l.ProductID))
	}
	return barrier.Work{Reads: append(keys, resKey, shardKey), Change: func(_ context.Context, items map[string]state.Item) (json.RawMessage, []state.Op, error) {
		return r.reserveFrom(items, orderID, lines, keys)
	}}
}

func (r *reservations) reserveFrom(items map[string]state.Item, orderID string, lines []Line, keys []string) (json.RawMessage, []state.Op, error) {
	resKey, shardKey := reservationKey(orderID), heldShardOf(orderID)
	if _, ok := items[resKey]; ok {
		// A twin of this try committed since the barrier looked for its
		// record: this one's insert-only write would fail. The barrier runs
		// again, finds the record and answers with its result.
		return nil, nil, fmt.Errorf("order %s was reserved meanwhile: %w", orderID, state.ErrConflict)
	}
	ops := make([]state.Op, 0, len(lines)+2)
	for i, l := range lines {
		rec, err := state.Lookup[Product](items, keys[i])
		if err != nil {
			return nil, nil, err
		}
		if !rec.Found {
			return nil, nil, &apperr.Error{Kind: apperr.Unprocessable, Msg: fmt.Sprintf("unknown product %s", l.ProductID),
				Fields: []apperr.FieldError{{Field: fmt.Sprintf("items[%d].product_id", i), Detail: "no such product"}}}
		}
		p := rec.Value
		before := p.Stock
		if err := p.Stock.Reserve(l.Quantity); errors.Is(err, ErrOutOfStock) {
			return nil, nil, &apperr.Error{Kind: apperr.Unprocessable, Err: err,
				Msg:    fmt.Sprintf("not enough stock of %s: %d available, %d asked", l.ProductID, before.Available, l.Quantity),
				Fields: []apperr.FieldError{{Field: fmt.Sprintf("items[%d].quantity", i), Detail: fmt.Sprintf("more than the %d available", before.Available)}}}
		} else if err != nil {
			return nil, nil, err
		}
		op, err := productOp(p, rec.ETag, before)
		if err != nil {
			return nil, nil, err
		}
		ops = append(ops, op)
	}
	res := Reservation{OrderID: orderID, Status: StatusReserved, Items: lines, ExpiresAt: r.now().Add(r.ttl).UTC()}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, nil, err
	}
	ops = append(ops, state.Op{Key: resKey, Value: b, Insert: true})
	shard, err := shardOp(items, shardKey, func(h *heldRecord) { h.Orders[orderID] = res.ExpiresAt })
	if err != nil {
		return nil, nil, err
	}
	return b, append(ops, shard), nil
}

// Confirm sells the units of the order's reservation. A repeat is a no-op.
// It is apperr.Conflict when there is nothing to confirm: no try, a try
// blocked by a cancel, or a reservation released (cancelled, or expired:
// one past its expiry is released now, by this call). products, when the
// caller knows them, are the reservation's products, read with it.
func (r *reservations) Confirm(ctx context.Context, orderID string, products ...string) (settled, error) {
	if err := checkOrderID(orderID); err != nil {
		return settled{}, err
	}
	_, err := r.settle(ctx, orderID, barrier.Confirm, settleConfirm, products...)
	switch {
	case errors.Is(err, barrier.ErrNoTry):
		return settled{}, apperr.Wrap(apperr.Conflict, err, "nothing to confirm: no stock was reserved for order %s, or its reservation was cancelled", orderID)
	case errors.Is(err, errExpired):
		// Refuse, and release it now rather than at the next sweep: the
		// saga is about to compensate, and the units can sell meanwhile.
		_, xerr := r.expire(ctx, orderID)
		return settled{}, apperr.Wrap(apperr.Conflict, errors.Join(err, xerr), "the reservation of order %s expired before it was confirmed", orderID)
	case err != nil:
		return settled{}, fmt.Errorf("confirm the reservation of order %s: %w", orderID, err)
	}
	return settled{OrderID: orderID, Status: StatusConfirmed}, nil
}

// Cancel releases the units of the order's reservation. A repeat is a
// no-op, and so is a cancel with nothing to undo (the try never came: it is
// blocked from now on; or the reservation expired). A confirmed reservation
// is never released: that is apperr.Conflict. products as for Confirm.
func (r *reservations) Cancel(ctx context.Context, orderID string, products ...string) (settled, error) {
	if err := checkOrderID(orderID); err != nil {
		return settled{}, err
	}
	if _, err := r.settle(ctx, orderID, barrier.Cancel, settleCancel, products...); err != nil {
		return settled{}, fmt.Errorf("cancel the reservation of order %s: %w", orderID, err)
	}
	return settled{OrderID: orderID, Status: StatusCancelled}, nil
}

// do runs an op behind the barrier, which runs it again after a short pause
// as long as it loses races to other writes of the same records: a busy
// product delays a try but does not fail it. Giving up is
// apperr.Unavailable, which the saga retries.
func (r *reservations) do(ctx context.Context, orderID string, kind barrier.Kind, work barrier.Work) (barrier.Outcome, error) {
	out, err := r.barrier.Do(ctx, orderID, reserveBranch, kind, work)
	if errors.Is(err, state.ErrConflict) {
		return barrier.Outcome{}, apperr.Wrap(apperr.Unavailable, err, "the stock is busy; try again")
	}
	return out, err
}

// Reservation returns the order's reservation.
func (r *reservations) Reservation(ctx context.Context, orderID string) (Reservation, error) {
	if err := checkOrderID(orderID); err != nil {
		return Reservation{}, err
	}
	key := reservationKey(orderID)
	items, err := r.state.Get(ctx, key)
	if err != nil {
		return Reservation{}, fmt.Errorf("read the reservation of order %s: %w", orderID, err)
	}
	it, ok := items[key]
	if !ok {
		return Reservation{}, apperr.E(apperr.NotFound, "no reservation for order %s", orderID)
	}
	var res Reservation
	if err := json.Unmarshal(it.Value, &res); err != nil {
		return Reservation{}, fmt.Errorf("decode the reservation of order %s: %w", orderID, err)
	}
	return res, nil
}
