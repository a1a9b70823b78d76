package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/barrier"
	"github.com/daprshop/daprshop/internal/daprdtest"
)

// stateProductStore keeps products in a barrier.Store under the keys and
// rules of daprProductStore, so that in unit tests the productStore and the
// reservations (which write products in their own transactions) share one
// set of records, as they share the Dapr state store in production. It
// passes the productStore contract, like the fake and the Dapr adapter.
type stateProductStore struct {
	state barrier.Store
}

var _ productStore = (*stateProductStore)(nil)

func (s *stateProductStore) Get(ctx context.Context, id string) (Product, error) {
	items, err := s.state.Get(ctx, productKey(id))
	if err != nil {
		return Product{}, err
	}
	it, ok := items[productKey(id)]
	if !ok {
		return Product{}, apperr.E(apperr.NotFound, "product %s not found", id)
	}
	return decodeProduct(id, it.Value)
}

func (s *stateProductStore) GetMany(ctx context.Context, ids []string) ([]Product, error) {
	products := []Product{}
	if len(ids) == 0 {
		return products, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = productKey(id)
	}
	items, err := s.state.Get(ctx, keys...)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if it, ok := items[keys[i]]; ok {
			p, err := decodeProduct(id, it.Value)
			if err != nil {
				return nil, err
			}
			products = append(products, p)
		}
	}
	return products, nil
}

func (s *stateProductStore) index(ctx context.Context) (indexRecord, barrier.Item, bool, error) {
	items, err := s.state.Get(ctx, indexKey)
	if err != nil {
		return indexRecord{}, barrier.Item{}, false, err
	}
	idx := indexRecord{IDs: []string{}}
	it, ok := items[indexKey]
	if ok {
		if err := json.Unmarshal(it.Value, &idx); err != nil {
			return indexRecord{}, barrier.Item{}, false, err
		}
	}
	return idx, it, ok, nil
}

func (s *stateProductStore) Index(ctx context.Context) ([]string, error) {
	idx, _, _, err := s.index(ctx)
	return idx.IDs, err
}

func (s *stateProductStore) Seed(ctx context.Context, products []Product) error {
	ids := make([]string, 0, len(products))
	for _, p := range products {
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		err = s.state.Transact(ctx, []barrier.Op{{Key: productKey(p.ID), Value: b, Insert: true}})
		if err != nil && !errors.Is(err, barrier.ErrConflict) { // a conflict: the product exists
			return err
		}
		ids = append(ids, p.ID)
	}
	for range indexAttempts {
		idx, it, ok, err := s.index(ctx)
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
		err = s.state.Transact(ctx, []barrier.Op{{Key: indexKey, Value: b, ETag: it.ETag, Insert: !ok}})
		if !errors.Is(err, barrier.ErrConflict) {
			return err
		}
	}
	return apperr.E(apperr.Conflict, "the product index changed %d times while merging", indexAttempts)
}

func (s *stateProductStore) UpdateStock(ctx context.Context, id string, change func(*Stock) error) (Product, error) {
	for range stockAttempts {
		items, err := s.state.Get(ctx, productKey(id))
		if err != nil {
			return Product{}, err
		}
		it, ok := items[productKey(id)]
		if !ok {
			return Product{}, apperr.E(apperr.NotFound, "product %s not found", id)
		}
		p, err := decodeProduct(id, it.Value)
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
		err = s.state.Transact(ctx, []barrier.Op{{Key: productKey(id), Value: b, ETag: it.ETag}})
		if errors.Is(err, barrier.ErrConflict) {
			continue
		}
		return p, err
	}
	return Product{}, apperr.E(apperr.Conflict, "the stock of %s changed %d times while updating", id, stockAttempts)
}

func TestStateProductStoreContract(t *testing.T) {
	t.Parallel()
	testProductStoreContract(t, &stateProductStore{state: barrier.NewMemoryStore()})
}

// countingState counts the transactions that reach a store and the races
// they lose.
type countingState struct {
	barrier.Store
	transacts, conflicts atomic.Int64
}

func (s *countingState) Transact(ctx context.Context, ops []barrier.Op) error {
	s.transacts.Add(1)
	err := s.Store.Transact(ctx, ops)
	if errors.Is(err, barrier.ErrConflict) {
		s.conflicts.Add(1)
	}
	return err
}

const reservationTTL = 2 * time.Minute

// lines makes reservation lines of (product id, quantity) pairs.
func lines(pairs ...any) []Line {
	var ls []Line
	for i := 0; i < len(pairs); i += 2 {
		ls = append(ls, Line{ProductID: pairs[i].(string), Quantity: int64(pairs[i+1].(int))})
	}
	return ls
}

// reservationsEnv is one contract run's store, shared by its subtests.
type reservationsEnv struct {
	state    barrier.Store
	products productStore
}

// newRes returns reservations on the env's store with a clock of their own.
func (e reservationsEnv) newRes(t *testing.T) (*reservations, *clock, *countingState) {
	t.Helper()
	clk := newClock()
	counting := &countingState{Store: e.state}
	res := newReservations(counting, e.products, func(...string) {}, clk.Now, reservationTTL, func() error { return nil })
	return res, clk, counting
}

// seed writes products with the given stock and unique ids, returned in
// order.
func (e reservationsEnv) seed(t *testing.T, stock ...int64) []string {
	t.Helper()
	var ids []string
	var ps []Product
	for _, n := range stock {
		id := uniqueID("p")
		ids = append(ids, id)
		ps = append(ps, product(id, n))
	}
	require.NoError(t, e.products.Seed(context.Background(), ps))
	return ids
}

func (e reservationsEnv) stock(t *testing.T, id string) Stock {
	t.Helper()
	p, err := e.products.Get(context.Background(), id)
	require.NoError(t, err)
	return p.Stock
}

func (e reservationsEnv) heldIDs(t *testing.T, res *reservations) []string {
	t.Helper()
	held, err := res.Held(context.Background())
	require.NoError(t, err)
	var ids []string
	for _, h := range held {
		ids = append(ids, h.OrderID)
	}
	return ids
}

func assertKind(t *testing.T, kind apperr.Kind, err error, msgAndArgs ...any) {
	t.Helper()
	if assert.Error(t, err, msgAndArgs...) {
		assert.Equal(t, kind, apperr.KindOf(err), "got %v", err)
	}
}

// testReservationsContract is what the reservations do on a store: it runs
// on the in-memory store and on a real daprd's state store.
func testReservationsContract(t *testing.T, e reservationsEnv) {
	ctx := context.Background()

	t.Run("a try reserves every line at once, and a repeat answers the same", func(t *testing.T) {
		t.Parallel()
		res, clk, _ := e.newRes(t)
		ids, order := e.seed(t, 10, 5), uuid.NewString()
		ls := lines(ids[0], 3, ids[1], 5)
		got, err := res.Try(ctx, order, ls)
		require.NoError(t, err)
		want := Reservation{OrderID: order, Status: StatusReserved, Items: ls, ExpiresAt: clk.Now().Add(reservationTTL)}
		assert.Equal(t, want, got)
		assert.Equal(t, Stock{Available: 7, Reserved: 3}, e.stock(t, ids[0]))
		assert.Equal(t, Stock{Reserved: 5}, e.stock(t, ids[1]))

		clk.Advance(time.Second)
		reversed := slices.Clone(ls)
		slices.Reverse(reversed)
		again, err := res.Try(ctx, order, reversed)
		require.NoError(t, err)
		assert.Equal(t, want, again, "the first answer, whatever the lines' order")
		assert.Equal(t, Stock{Available: 7, Reserved: 3}, e.stock(t, ids[0]), "reserved once")
		stored, err := res.Reservation(ctx, order)
		require.NoError(t, err)
		assert.Equal(t, want, stored)
		assert.Contains(t, e.heldIDs(t, res), order)
	})

	t.Run("concurrent repeats of a try reserve once", func(t *testing.T) {
		t.Parallel()
		res, _, _ := e.newRes(t)
		ids, order := e.seed(t, 10), uuid.NewString()
		got := make([]Reservation, 8)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() {
				var err error
				got[i], err = res.Try(ctx, order, lines(ids[0], 3))
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		for _, g := range got[1:] {
			assert.Equal(t, got[0], g)
		}
		assert.Equal(t, Stock{Available: 7, Reserved: 3}, e.stock(t, ids[0]))
	})

	t.Run("a try that cannot be met reserves nothing", func(t *testing.T) {
		t.Parallel()
		res, _, _ := e.newRes(t)
		ids := e.seed(t, 10, 1)
		tests := []struct {
			name      string
			lines     []Line
			wantField string
		}{
			{"one line short", lines(ids[0], 3, ids[1], 2), "items[1].quantity"},
			{"an unknown product", lines(ids[0], 3, uniqueID("missing"), 1), "items[1].product_id"},
		}
		for _, tt := range tests {
			order := uuid.NewString()
			_, err := res.Try(ctx, order, tt.lines)
			var ae *apperr.Error
			require.ErrorAs(t, err, &ae, tt.name)
			assert.Equal(t, apperr.Unprocessable, ae.Kind, tt.name)
			assert.Contains(t, ae.Msg, tt.lines[1].ProductID, "%s: names the product", tt.name)
			if assert.Len(t, ae.Fields, 1, tt.name) {
				assert.Equal(t, tt.wantField, ae.Fields[0].Field, tt.name)
			}
			_, err = res.Reservation(ctx, order)
			assertKind(t, apperr.NotFound, err, tt.name)
			assert.NotContains(t, e.heldIDs(t, res), order, tt.name)
		}
		assert.Equal(t, Stock{Available: 10}, e.stock(t, ids[0]))
		assert.Equal(t, Stock{Available: 1}, e.stock(t, ids[1]))
	})

	t.Run("confirm sells once; a cancel after it is refused", func(t *testing.T) {
		t.Parallel()
		res, _, _ := e.newRes(t)
		ids, order := e.seed(t, 4), uuid.NewString()
		_, err := res.Try(ctx, order, lines(ids[0], 3))
		require.NoError(t, err)
		for range 2 {
			got, err := res.Confirm(ctx, order)
			require.NoError(t, err)
			assert.Equal(t, settled{OrderID: order, Status: StatusConfirmed}, got)
		}
		_, err = res.Cancel(ctx, order)
		assertKind(t, apperr.Conflict, err)
		assert.Equal(t, Stock{Available: 1, Sold: 3}, e.stock(t, ids[0]))
		stored, err := res.Reservation(ctx, order)
		require.NoError(t, err)
		assert.Equal(t, StatusConfirmed, stored.Status)
		assert.NotContains(t, e.heldIDs(t, res), order)
	})

	t.Run("cancel releases once; a confirm after it is refused", func(t *testing.T) {
		t.Parallel()
		res, _, _ := e.newRes(t)
		ids, order := e.seed(t, 4), uuid.NewString()
		first, err := res.Try(ctx, order, lines(ids[0], 3))
		require.NoError(t, err)
		for range 2 {
			got, err := res.Cancel(ctx, order)
			require.NoError(t, err)
			assert.Equal(t, settled{OrderID: order, Status: StatusCancelled}, got)
		}
		_, err = res.Confirm(ctx, order)
		assertKind(t, apperr.Conflict, err)
		again, err := res.Try(ctx, order, lines(ids[0], 3))
		require.NoError(t, err)
		assert.Equal(t, first, again, "a repeat of the try replays its first answer, and reserves nothing")
		assert.Equal(t, Stock{Available: 4}, e.stock(t, ids[0]))
		stored, err := res.Reservation(ctx, order)
		require.NoError(t, err)
		assert.Equal(t, StatusCancelled, stored.Status)
		assert.NotContains(t, e.heldIDs(t, res), order)
	})

	t.Run("a cancel before the try blocks it", func(t *testing.T) {
		t.Parallel()
		res, _, _ := e.newRes(t)
		ids, order := e.seed(t, 4), uuid.NewString()
		got, err := res.Cancel(ctx, order)
		require.NoError(t, err)
		assert.Equal(t, settled{OrderID: order, Status: StatusCancelled}, got)
		_, err = res.Try(ctx, order, lines(ids[0], 1))
		assertKind(t, apperr.Conflict, err)
		_, err = res.Confirm(ctx, order)
		assertKind(t, apperr.Conflict, err)
		_, err = res.Cancel(ctx, order)
		require.NoError(t, err)
		_, err = res.Reservation(ctx, order)
		assertKind(t, apperr.NotFound, err)
		assert.Equal(t, Stock{Available: 4}, e.stock(t, ids[0]))
	})

	t.Run("a confirm without a try is refused", func(t *testing.T) {
		t.Parallel()
		res, _, _ := e.newRes(t)
		_, err := res.Confirm(ctx, uuid.NewString())
		assertKind(t, apperr.Conflict, err)
	})

	t.Run("a repeat of a try with other lines is refused", func(t *testing.T) {
		t.Parallel()
		res, _, _ := e.newRes(t)
		ids, order := e.seed(t, 4), uuid.NewString()
		_, err := res.Try(ctx, order, lines(ids[0], 1))
		require.NoError(t, err)
		_, err = res.Try(ctx, order, lines(ids[0], 2))
		assertKind(t, apperr.Conflict, err)
		assert.Equal(t, Stock{Available: 3, Reserved: 1}, e.stock(t, ids[0]))
	})

	t.Run("a confirm past the expiry is refused and releases", func(t *testing.T) {
		t.Parallel()
		res, clk, _ := e.newRes(t)
		ids, order := e.seed(t, 4), uuid.NewString()
		_, err := res.Try(ctx, order, lines(ids[0], 3))
		require.NoError(t, err)
		clk.Advance(reservationTTL)
		_, err = res.Confirm(ctx, order)
		assertKind(t, apperr.Conflict, err)
		assert.Equal(t, Stock{Available: 4}, e.stock(t, ids[0]), "released at once")
		stored, err := res.Reservation(ctx, order)
		require.NoError(t, err)
		assert.Equal(t, StatusExpired, stored.Status)
		_, err = res.Confirm(ctx, order)
		assertKind(t, apperr.Conflict, err, "still refused")
		got, err := res.Cancel(ctx, order)
		require.NoError(t, err, "the saga's compensation succeeds")
		assert.Equal(t, settled{OrderID: order, Status: StatusCancelled}, got)
		assert.Equal(t, Stock{Available: 4}, e.stock(t, ids[0]))
		assert.NotContains(t, e.heldIDs(t, res), order)
	})

	t.Run("a try racing its cancel nets zero", func(t *testing.T) {
		t.Parallel()
		res, _, _ := e.newRes(t)
		ids := e.seed(t, 100)
		for i := range 10 {
			order := uuid.NewString()
			var wg sync.WaitGroup
			var tryErr, cancelErr error
			wg.Go(func() { _, tryErr = res.Try(ctx, order, lines(ids[0], 2)) })
			wg.Go(func() { _, cancelErr = res.Cancel(ctx, order) })
			wg.Wait()
			require.NoError(t, cancelErr, "round %d", i)
			if tryErr != nil {
				assertKind(t, apperr.Conflict, tryErr, "round %d: blocked", i)
			}
			assert.Equal(t, Stock{Available: 100}, e.stock(t, ids[0]), "round %d", i)
			assert.NotContains(t, e.heldIDs(t, res), order, "round %d", i)
		}
	})

	t.Run("a confirm racing a cancel: one of them, never both", func(t *testing.T) {
		t.Parallel()
		res, _, _ := e.newRes(t)
		ids := e.seed(t, 100)
		for i := range 10 {
			order := uuid.NewString()
			_, err := res.Try(ctx, order, lines(ids[0], 1))
			require.NoError(t, err)
			var wg sync.WaitGroup
			var confirmErr, cancelErr error
			wg.Go(func() { _, confirmErr = res.Confirm(ctx, order) })
			wg.Go(func() { _, cancelErr = res.Cancel(ctx, order) })
			wg.Wait()
			stored, err := res.Reservation(ctx, order)
			require.NoError(t, err)
			if confirmErr == nil {
				assertKind(t, apperr.Conflict, cancelErr, "round %d: the cancel came second", i)
				assert.Equal(t, StatusConfirmed, stored.Status, "round %d", i)
			} else {
				require.NoError(t, cancelErr, "round %d", i)
				assertKind(t, apperr.Conflict, confirmErr, "round %d: the confirm came second", i)
				assert.Equal(t, StatusCancelled, stored.Status, "round %d", i)
			}
		}
		st := e.stock(t, ids[0])
		assert.Equal(t, int64(100), st.Total())
		assert.Zero(t, st.Reserved)
	})

	for _, load := range []struct{ tries, units int }{{50, 10}, {200, 20}} {
		t.Run(fmt.Sprintf("%d concurrent tries for %d units never reserve a unit twice", load.tries, load.units), func(t *testing.T) {
			t.Parallel()
			testConcurrentTries(t, e, load.tries, load.units)
		})
	}

	// The sweeps see every reservation of the store, so they run alone,
	// before the parallel subtests resume, and leave nothing held.
	t.Run("the sweeper releases what outlived its TTL, once", func(t *testing.T) {
		res, clk, _ := e.newRes(t)
		ids := e.seed(t, 10)
		early, late := uuid.NewString(), uuid.NewString()
		_, err := res.Try(ctx, early, lines(ids[0], 2))
		require.NoError(t, err)
		clk.Advance(reservationTTL / 2)
		_, err = res.Try(ctx, late, lines(ids[0], 3))
		require.NoError(t, err)

		clk.Advance(reservationTTL/2 - time.Millisecond)
		released, err := res.Sweep(ctx)
		require.NoError(t, err)
		assert.Zero(t, released, "nothing is due yet")

		clk.Advance(time.Millisecond)
		released, err = res.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, released)
		assert.Equal(t, Stock{Available: 7, Reserved: 3}, e.stock(t, ids[0]))
		assert.Equal(t, []string{late}, e.heldIDs(t, res))
		stored, err := res.Reservation(ctx, early)
		require.NoError(t, err)
		assert.Equal(t, StatusExpired, stored.Status)

		_, err = res.Confirm(ctx, early)
		assertKind(t, apperr.Conflict, err, "a late confirm is refused: the saga compensates")
		_, err = res.Cancel(ctx, early)
		require.NoError(t, err, "and its cancel succeeds, undoing nothing")
		released, err = res.Sweep(ctx)
		require.NoError(t, err)
		assert.Zero(t, released, "released once")

		clk.Advance(reservationTTL)
		released, err = res.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, released)
		assert.Equal(t, Stock{Available: 10}, e.stock(t, ids[0]))
		assert.Empty(t, e.heldIDs(t, res))
	})

	t.Run("the sweeper leaves confirmed and cancelled reservations alone", func(t *testing.T) {
		res, clk, _ := e.newRes(t)
		ids := e.seed(t, 10)
		confirmed, cancelled := uuid.NewString(), uuid.NewString()
		for _, order := range []string{confirmed, cancelled} {
			_, err := res.Try(ctx, order, lines(ids[0], 1))
			require.NoError(t, err)
		}
		_, err := res.Confirm(ctx, confirmed)
		require.NoError(t, err)
		_, err = res.Cancel(ctx, cancelled)
		require.NoError(t, err)
		clk.Advance(2 * reservationTTL)
		released, err := res.Sweep(ctx)
		require.NoError(t, err)
		assert.Zero(t, released)
		assert.Equal(t, Stock{Available: 9, Sold: 1}, e.stock(t, ids[0]))
	})
}

// yieldingState lets other goroutines run after each read, as the round
// trip to a sidecar would: racing ops then interleave between their reads
// and their writes, in memory too.
type yieldingState struct {
	barrier.Store
}

func (s yieldingState) Get(ctx context.Context, keys ...string) (map[string]barrier.Item, error) {
	items, err := s.Store.Get(ctx, keys...)
	runtime.Gosched()
	return items, err
}

func TestReservationsContractInMemory(t *testing.T) {
	t.Parallel()
	state := yieldingState{barrier.NewMemoryStore()}
	testReservationsContract(t, reservationsEnv{state: state, products: &stateProductStore{state: state}})
}

func TestReservationsContractOnDapr(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real daprd")
	}
	t.Parallel()
	sc := daprdtest.Start(t, "catalog", daprdtest.StateStore("catalog-store"))
	testReservationsContract(t, reservationsEnv{
		state:    barrier.NewDaprStore(sc.Client, "catalog-store"),
		products: newDaprProductStore(sc.Client, "catalog-store"),
	})
}

// testConcurrentTries races tries of one unit each on a product with units
// units: exactly units of them reserve, the others are refused as out of
// stock, none fails otherwise; then every saga compensates at once.
func testConcurrentTries(t *testing.T, e reservationsEnv, tries, units int) {
	ctx := context.Background()
	res, _, counting := e.newRes(t)
	var rounds atomic.Int64
	res.barrier = barrier.New(res.state, res.now, barrier.WithBackoff(func(attempt int) time.Duration { rounds.Add(1); return barrier.Backoff(attempt) }))
	ids := e.seed(t, int64(units))
	orders := make([]string, tries)
	errs := make([]error, tries)
	took := make([]time.Duration, tries)
	var wg sync.WaitGroup
	began := time.Now()
	for i := range tries {
		orders[i] = uuid.NewString()
		wg.Go(func() {
			start := time.Now()
			_, errs[i] = res.Try(ctx, orders[i], lines(ids[0], 1))
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	var reserved []string
	refused := 0
	for i, err := range errs {
		switch {
		case err == nil:
			reserved = append(reserved, orders[i])
		case apperr.Is(err, apperr.Unprocessable):
			refused++
		default:
			t.Errorf("try %d failed otherwise: %v", i, err)
		}
	}
	assert.Len(t, reserved, units)
	assert.Equal(t, tries-units, refused)
	assert.Equal(t, Stock{Reserved: int64(units)}, e.stock(t, ids[0]))
	held := e.heldIDs(t, res)
	for _, id := range reserved {
		assert.Contains(t, held, id)
	}
	slices.Sort(took)
	t.Logf("%d concurrent tries for %d units: %d reserved, %d refused (422), %d failed otherwise; %d transactions, %d lost a race; %d backoff rounds; latency p50 %s, p90 %s, max %s; all done in %s",
		tries, units, len(reserved), refused, tries-len(reserved)-refused, counting.transacts.Load(), counting.conflicts.Load(), rounds.Load(),
		took[tries/2].Round(time.Millisecond), took[tries*9/10].Round(time.Millisecond), took[tries-1].Round(time.Millisecond), elapsed.Round(time.Millisecond))

	// Every saga compensates, at once: the stock is whole again.
	for i := range tries {
		wg.Go(func() {
			_, err := res.Cancel(ctx, orders[i])
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, Stock{Available: int64(units)}, e.stock(t, ids[0]))
	held = e.heldIDs(t, res)
	for _, id := range orders {
		assert.NotContains(t, held, id)
	}
}
