package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/barrier"
	"github.com/daprshop/daprshop/internal/state"
)

// The reservation's state machine: what a confirm, a cancel or an expiry
// does to a reservation, behind the barrier.

// expire releases the order's reservation if it is held past its expiry,
// through the barrier's cancel, so that a later cancel of the saga is a
// repeat of it. It reports whether it released anything now.
func (r *reservations) expire(ctx context.Context, orderID string) (bool, error) {
	out, err := r.settle(ctx, orderID, barrier.Cancel, settleExpire)
	switch {
	case errors.Is(err, errNotDue), errors.Is(err, errNotHeld):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("expire the reservation of order %s: %w", orderID, err)
	}
	return !out.Replayed && !out.Empty, nil
}

// settlement is what a confirm, cancel or expiry does to a reservation.
type settlement int

const (
	settleConfirm settlement = iota
	settleCancel
	settleExpire
)

var (
	// errExpired: a confirm of a reservation past its expiry.
	errExpired = errors.New("the reservation expired")
	// errNotDue: an expiry of a reservation that has time left.
	errNotDue = errors.New("the reservation has not expired")
	// errNotHeld: an expiry of a reservation that holds nothing.
	errNotHeld = errors.New("the reservation holds no stock")
	// errStaleMove: a product's stock cannot make the move its reservation
	// needs.
	errStaleMove = errors.New("the stock does not hold the reservation's units")
)

// settle runs a settlement of the order's reservation behind the barrier's
// op kind, and drops the products it touched from the cache. products (a
// hint: may be empty or wrong) are read with the reservation, in the
// barrier's one read.
func (r *reservations) settle(ctx context.Context, orderID string, kind barrier.Kind, s settlement, products ...string) (barrier.Outcome, error) {
	var touched []string
	defer func() { r.forget(touched...) }()
	resKey, shardKey := reservationKey(orderID), heldShardOf(orderID)
	reads := []string{resKey, shardKey}
	for _, id := range products {
		if k := productKey(id); !slices.Contains(reads, k) {
			reads = append(reads, k)
		}
	}
	return r.do(ctx, orderID, kind, barrier.Work{Reads: reads, Change: func(ctx context.Context, items map[string]state.Item) (json.RawMessage, []state.Op, error) {
		it, ok := items[resKey]
		if !ok {
			return nil, nil, fmt.Errorf("the reservation of order %s is missing, but its try record is there", orderID)
		}
		var res Reservation
		if err := json.Unmarshal(it.Value, &res); err != nil {
			return nil, nil, fmt.Errorf("decode the reservation of order %s: %w", orderID, err)
		}
		touched = res.ProductIDs()
		next, move, err := s.decide(res, r.now())
		if err != nil {
			return nil, nil, err
		}
		answer := settled{OrderID: orderID, Status: StatusConfirmed}
		if s != settleConfirm {
			answer.Status = StatusCancelled // an expiry answers a later cancel of the saga
		}
		result, err := json.Marshal(answer)
		if err != nil || move == nil {
			return result, nil, err // nothing to move: only the barrier record is written
		}
		ops, err := r.moveStock(ctx, res, move, newReadWith(items, reads[2:]))
		if errors.Is(err, errStaleMove) && len(reads) > 2 {
			// The products came in the same read as the reservation; a
			// store whose bulk read is no snapshot may have read a product
			// before the try that reserved its units committed. Read them
			// again, after the reservation, as without the hint.
			ops, err = r.moveStock(ctx, res, move, nil)
		}
		if errors.Is(err, errStaleMove) {
			// The products were read after another op on this reservation
			// committed: our write would lose on the reservation's ETag, so
			// this is a race lost, and the barrier runs again on fresh
			// records. Otherwise the stock contradicts the reservation.
			again, rerr := r.state.Get(ctx, resKey)
			if rerr != nil {
				return nil, nil, rerr
			}
			if again[resKey].ETag != it.ETag {
				return nil, nil, fmt.Errorf("%w: %w", state.ErrConflict, err)
			}
		}
		if err != nil {
			return nil, nil, err
		}
		res.Status = next
		b, err := json.Marshal(res)
		if err != nil {
			return nil, nil, err
		}
		ops = append(ops, state.Op{Key: resKey, Value: b, ETag: it.ETag})
		shard, err := shardOp(items, shardKey, func(h *heldRecord) { delete(h.Orders, orderID) })
		if err != nil {
			return nil, nil, err
		}
		return result, append(ops, shard), nil
	}})
}

// decide returns what s does to res at now: its next status and the stock
// move of each line, or no move when there is nothing to do but record the
// op; or an error, and then nothing is written.
func (s settlement) decide(res Reservation, now time.Time) (ReservationStatus, func(*Stock, int64) error, error) {
	switch s {
	case settleConfirm:
		switch {
		case res.Due(now):
			return "", nil, errExpired
		case res.Held():
			return StatusConfirmed, (*Stock).Confirm, nil
		case res.Status == StatusConfirmed:
			return "", nil, nil // confirmed by a run whose barrier record is there: cannot be, but harmless
		}
		return "", nil, apperr.E(apperr.Conflict, "nothing to confirm: the reservation of order %s was %s", res.OrderID, res.Status)
	case settleCancel:
		switch {
		case res.Held():
			return StatusCancelled, (*Stock).Release, nil
		case res.Status == StatusConfirmed:
			return "", nil, apperr.E(apperr.Conflict, "the reservation of order %s was confirmed: its stock is sold and is never released", res.OrderID)
		}
		return "", nil, nil // released already: nothing to undo
	default: // settleExpire
		switch {
		case res.Due(now):
			return StatusExpired, (*Stock).Release, nil
		case res.Held():
			return "", nil, errNotDue
		}
		return "", nil, errNotHeld
	}
}
