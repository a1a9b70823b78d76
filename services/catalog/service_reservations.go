package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/barrier"
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
	state    barrier.Store
	barrier  *barrier.Barrier
	products productStore        // uncached: the stock listing reads the store
	forget   func(ids ...string) // drops products from the read cache
	now      func() time.Time
	ttl      time.Duration
	seeded   func() error
}

func newReservations(state barrier.Store, products productStore, forget func(ids ...string), now func() time.Time, ttl time.Duration, seeded func() error, opts ...barrier.Option) *reservations {
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
	out, err := r.do(ctx, orderID, barrier.Try, func(ctx context.Context) (json.RawMessage, []barrier.Op, error) {
		return r.reserve(ctx, orderID, lines)
	})
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

// reserve is the work of a try: it reads the products, the reservation and
// its index shard, and returns the reservation and the writes that make it.
func (r *reservations) reserve(ctx context.Context, orderID string, lines []Line) (json.RawMessage, []barrier.Op, error) {
	resKey, shardKey := reservationKey(orderID), heldShardOf(orderID)
	keys := make([]string, 0, len(lines)+2)
	for _, l := range lines {
		keys = append(keys, productKey(l.ProductID))
	}
	items, err := r.state.Get(ctx, append(keys, resKey, shardKey)...)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := items[resKey]; ok {
		// A twin of this try committed since the barrier looked for its
		// record: this one's insert-only write would fail. The barrier runs
		// again, finds the record and answers with its result.
		return nil, nil, fmt.Errorf("order %s was reserved meanwhile: %w", orderID, barrier.ErrConflict)
	}
	ops := make([]barrier.Op, 0, len(lines)+2)
	for i, l := range lines {
		it, ok := items[keys[i]]
		if !ok {
			return nil, nil, &apperr.Error{Kind: apperr.Unprocessable, Msg: fmt.Sprintf("unknown product %s", l.ProductID),
				Fields: []apperr.FieldError{{Field: fmt.Sprintf("items[%d].product_id", i), Detail: "no such product"}}}
		}
		p, err := decodeProduct(l.ProductID, it.Value)
		if err != nil {
			return nil, nil, err
		}
		before := p.Stock
		if err := p.Stock.Reserve(l.Quantity); errors.Is(err, ErrOutOfStock) {
			return nil, nil, &apperr.Error{Kind: apperr.Unprocessable, Err: err,
				Msg:    fmt.Sprintf("not enough stock of %s: %d available, %d asked", l.ProductID, before.Available, l.Quantity),
				Fields: []apperr.FieldError{{Field: fmt.Sprintf("items[%d].quantity", i), Detail: fmt.Sprintf("more than the %d available", before.Available)}}}
		} else if err != nil {
			return nil, nil, err
		}
		op, err := productOp(p, it.ETag, before)
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
	ops = append(ops, barrier.Op{Key: resKey, Value: b, Insert: true})
	shard, err := shardOp(items, shardKey, func(h *heldRecord) { h.Orders[orderID] = res.ExpiresAt })
	if err != nil {
		return nil, nil, err
	}
	return b, append(ops, shard), nil
}

// Confirm sells the units of the order's reservation. A repeat is a no-op.
// It is apperr.Conflict when there is nothing to confirm: no try, a try
// blocked by a cancel, or a reservation released (cancelled, or expired:
// one past its expiry is released now, by this call).
func (r *reservations) Confirm(ctx context.Context, orderID string) (settled, error) {
	if err := checkOrderID(orderID); err != nil {
		return settled{}, err
	}
	_, err := r.settle(ctx, orderID, barrier.Confirm, settleConfirm)
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
// is never released: that is apperr.Conflict.
func (r *reservations) Cancel(ctx context.Context, orderID string) (settled, error) {
	if err := checkOrderID(orderID); err != nil {
		return settled{}, err
	}
	if _, err := r.settle(ctx, orderID, barrier.Cancel, settleCancel); err != nil {
		return settled{}, fmt.Errorf("cancel the reservation of order %s: %w", orderID, err)
	}
	return settled{OrderID: orderID, Status: StatusCancelled}, nil
}

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
// op kind, and drops the products it touched from the cache.
func (r *reservations) settle(ctx context.Context, orderID string, kind barrier.Kind, s settlement) (barrier.Outcome, error) {
	var touched []string
	defer func() { r.forget(touched...) }()
	return r.do(ctx, orderID, kind, func(ctx context.Context) (json.RawMessage, []barrier.Op, error) {
		resKey, shardKey := reservationKey(orderID), heldShardOf(orderID)
		items, err := r.state.Get(ctx, resKey, shardKey)
		if err != nil {
			return nil, nil, err
		}
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
		ops, err := r.moveStock(ctx, res, move)
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
				return nil, nil, fmt.Errorf("%w: %w", barrier.ErrConflict, err)
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
		ops = append(ops, barrier.Op{Key: resKey, Value: b, ETag: it.ETag})
		shard, err := shardOp(items, shardKey, func(h *heldRecord) { delete(h.Orders, orderID) })
		if err != nil {
			return nil, nil, err
		}
		return result, append(ops, shard), nil
	})
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

// moveStock reads the products of res and returns their writes after move
// of each line's units, each under the ETag it was read with.
func (r *reservations) moveStock(ctx context.Context, res Reservation, move func(*Stock, int64) error) ([]barrier.Op, error) {
	keys := make([]string, len(res.Items))
	for i, l := range res.Items {
		keys[i] = productKey(l.ProductID)
	}
	items, err := r.state.Get(ctx, keys...)
	if err != nil {
		return nil, err
	}
	ops := make([]barrier.Op, 0, len(res.Items)+2)
	for i, l := range res.Items {
		it, ok := items[keys[i]]
		if !ok {
			return nil, fmt.Errorf("product %s of the reservation of order %s is missing", l.ProductID, res.OrderID)
		}
		p, err := decodeProduct(l.ProductID, it.Value)
		if err != nil {
			return nil, err
		}
		before := p.Stock
		if err := move(&p.Stock, l.Quantity); err != nil {
			// The product does not count the reservation's units as
			// reserved: a read that raced another op, or a broken invariant.
			return nil, fmt.Errorf("move %d units of %s for order %s: %w: %w", l.Quantity, l.ProductID, res.OrderID, errStaleMove, err)
		}
		op, err := productOp(p, it.ETag, before)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// productOp writes p under etag, after checking that its stock can follow
// before.
func productOp(p Product, etag string, before Stock) (barrier.Op, error) {
	if err := checkChange(before, p.Stock); err != nil {
		return barrier.Op{}, fmt.Errorf("stock of %s: %w", p.ID, err)
	}
	if etag == "" {
		// Without an ETag the write would be unconditional, and could
		// overwrite a concurrent change.
		return barrier.Op{}, fmt.Errorf("product %s was read without an ETag", p.ID)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return barrier.Op{}, err
	}
	return barrier.Op{Key: productKey(p.ID), Value: b, ETag: etag}, nil
}

// shardOp returns the write of the index shard at key after change: under
// the ETag it was read with, or insert-only when there was none.
func shardOp(items map[string]barrier.Item, key string, change func(*heldRecord)) (barrier.Op, error) {
	h := heldRecord{Orders: map[string]time.Time{}}
	it, ok := items[key]
	if ok {
		if err := json.Unmarshal(it.Value, &h); err != nil {
			return barrier.Op{}, fmt.Errorf("decode %s: %w", key, err)
		}
		if h.Orders == nil {
			h.Orders = map[string]time.Time{}
		}
	}
	change(&h)
	b, err := json.Marshal(h)
	if err != nil {
		return barrier.Op{}, err
	}
	if !ok {
		return barrier.Op{Key: key, Value: b, Insert: true}, nil
	}
	return barrier.Op{Key: key, Value: b, ETag: it.ETag}, nil
}

// do runs an op behind the barrier, which runs it again after a short pause
// as long as it loses races to other writes of the same records: a busy
// product delays a try but does not fail it. Giving up is
// apperr.Unavailable, which the saga retries.
func (r *reservations) do(ctx context.Context, orderID string, kind barrier.Kind, work barrier.Work) (barrier.Outcome, error) {
	out, err := r.barrier.Do(ctx, orderID, reserveBranch, kind, work)
	if errors.Is(err, barrier.ErrConflict) {
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

// heldIndex reads every shard of the index: the order ids of the held
// reservations and their expiries.
func (r *reservations) heldIndex(ctx context.Context) (map[string]time.Time, error) {
	items, err := r.state.Get(ctx, allHeldShards()...)
	if err != nil {
		return nil, fmt.Errorf("read the index of held reservations: %w", err)
	}
	held := map[string]time.Time{}
	for key, it := range items {
		var h heldRecord
		if err := json.Unmarshal(it.Value, &h); err != nil {
			return nil, fmt.Errorf("decode %s: %w", key, err)
		}
		for id, exp := range h.Orders {
			held[id] = exp
		}
	}
	return held, nil
}

// Held returns every reservation that holds stock, sorted by order id.
func (r *reservations) Held(ctx context.Context) ([]Reservation, error) {
	index, err := r.heldIndex(ctx)
	if err != nil {
		return nil, err
	}
	held := []Reservation{}
	if len(index) == 0 {
		return held, nil
	}
	keys := make([]string, 0, len(index))
	for id := range index {
		keys = append(keys, reservationKey(id))
	}
	slices.Sort(keys)
	items, err := r.state.Get(ctx, keys...)
	if err != nil {
		return nil, fmt.Errorf("read the held reservations: %w", err)
	}
	for _, key := range keys {
		it, ok := items[key]
		if !ok {
			continue
		}
		var res Reservation
		if err := json.Unmarshal(it.Value, &res); err != nil {
			return nil, fmt.Errorf("decode %s: %w", key, err)
		}
		if res.Held() {
			held = append(held, res)
		}
	}
	return held, nil
}

// Sweep releases every reservation held past its expiry, and returns how
// many it released. It goes on past a failure, and reports them all. Until
// the catalog is seeded (its sidecar answering) it does nothing.
func (r *reservations) Sweep(ctx context.Context) (int, error) {
	if r.seeded() != nil {
		return 0, nil
	}
	index, err := r.heldIndex(ctx)
	if err != nil {
		return 0, err
	}
	now := r.now()
	var due []string
	for id, exp := range index {
		if !now.Before(exp) {
			due = append(due, id)
		}
	}
	slices.Sort(due)
	released := 0
	var errs []error
	for _, id := range due {
		ok, err := r.expire(ctx, id)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			released++
		}
	}
	return released, errors.Join(errs...)
}

// StockLevel is where a product's units are.
type StockLevel struct {
	ID string
	Stock
}

// Stock returns the stock of every product, sorted by id, read from the
// store (not the cache), for checking that no unit was created or lost.
func (r *reservations) Stock(ctx context.Context) ([]StockLevel, error) {
	if err := r.seeded(); err != nil {
		return nil, err
	}
	ids, err := r.products.Index(ctx)
	if err != nil {
		return nil, fmt.Errorf("list stock: %w", err)
	}
	levels := make([]StockLevel, 0, len(ids))
	// A bulk read per page keeps one call small whatever the catalog's size.
	for page := range slices.Chunk(ids, 100) {
		ps, err := r.products.GetMany(ctx, page)
		if err != nil {
			return nil, fmt.Errorf("list stock: %w", err)
		}
		for _, p := range ps {
			levels = append(levels, StockLevel{ID: p.ID, Stock: p.Stock})
		}
	}
	return levels, nil
}
