package main

import (
	"context"
	"errors"
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
	"github.com/daprshop/daprshop/internal/state"
)

// The environment of the reservations' contract (testReservationsContract,
// service_reservations_test.go): the stores it runs on, memory and a real
// daprd, and its helpers.

// countingState counts the reads and the transactions that reach a store,
// and the races the transactions lose.
type countingState struct {
	state.Store
	gets, transacts, conflicts atomic.Int64
}

func (s *countingState) Get(ctx context.Context, keys ...string) (map[string]state.Item, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, keys...)
}

func (s *countingState) Transact(ctx context.Context, ops []state.Op) error {
	s.transacts.Add(1)
	err := s.Store.Transact(ctx, ops)
	if errors.Is(err, state.ErrConflict) {
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
	state    state.Store
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

// yieldingState lets other goroutines run after each read, as the round
// trip to a sidecar would: racing ops then interleave between their reads
// and their writes, in memory too.
type yieldingState struct {
	state.Store
}

func (s yieldingState) Get(ctx context.Context, keys ...string) (map[string]state.Item, error) {
	items, err := s.Store.Get(ctx, keys...)
	runtime.Gosched()
	return items, err
}

func TestReservationsContractInMemory(t *testing.T) {
	t.Parallel()
	records := yieldingState{state.NewMemoryStore()}
	testReservationsContract(t, reservationsEnv{state: records, products: newStateProductStore(records)})
}

func TestReservationsContractOnDapr(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real daprd")
	}
	t.Parallel()
	sc := daprdtest.Start(t, "catalog", daprdtest.StateStore("catalog-store"))
	testReservationsContract(t, reservationsEnv{
		state:    state.NewDaprStore(sc.Client, "catalog-store"),
		products: newStateProductStore(state.NewDaprStore(sc.Client, "catalog-store")),
	})
}

// testConcurrentTries races tries of one unit each on a product with units
// units: exactly units of them reserve, the others are refused as out of
// stock, none fails otherwise; then every saga compensates at once.
func testConcurrentTries(t *testing.T, e reservationsEnv, tries, units int) {
	ctx := context.Background()
	res, _, counting := e.newRes(t)
	var rounds atomic.Int64
	res.barrier = barrier.New(res.state, res.now, barrier.WithBackoff(func(attempt int) time.Duration { rounds.Add(1); return state.Backoff(attempt) }))
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
