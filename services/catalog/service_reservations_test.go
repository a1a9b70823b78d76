package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
)

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

	t.Run("a confirm or a cancel told the products reads once; a wrong list only costs a read", func(t *testing.T) {
		t.Parallel()
		res, _, counting := e.newRes(t)
		settle := []struct {
			name     string
			do       func(ctx context.Context, order string, products ...string) (settled, error)
			products func(p []string) []string // of the three products, the first two tried
			reads    int64
			after    Stock // of the first: 3 units tried, then settled
		}{
			{"confirm, told", res.Confirm, func(p []string) []string { return p[:2] }, 1, Stock{Available: 7, Sold: 3}},
			{"cancel, told", res.Cancel, func(p []string) []string { return p[:2] }, 1, Stock{Available: 10}},
			{"confirm, not told", res.Confirm, func([]string) []string { return nil }, 2, Stock{Available: 7, Sold: 3}},
			{"cancel, told one of two", res.Cancel, func(p []string) []string { return p[:1] }, 2, Stock{Available: 10}},
			{"confirm, told another", res.Confirm, func(p []string) []string { return p[2:] }, 2, Stock{Available: 7, Sold: 3}},
		}
		for _, tc := range settle {
			p, order := e.seed(t, 10, 10, 10), uuid.NewString()
			_, err := res.Try(ctx, order, lines(p[0], 3, p[1], 1))
			require.NoError(t, err, tc.name)
			before, lostBefore := counting.gets.Load(), counting.conflicts.Load()
			_, err = tc.do(ctx, order, tc.products(p)...)
			require.NoError(t, err, tc.name)
			// The other subtests, run in parallel, write the index of held
			// reservations too: a settle that lost that race reads afresh
			// and tries again, the same reads each time.
			attempts := 1 + counting.conflicts.Load() - lostBefore
			assert.Equal(t, tc.reads*attempts, counting.gets.Load()-before, "%s: reads in %d attempts", tc.name, attempts)
			assert.Equal(t, tc.after, e.stock(t, p[0]), tc.name)
			assert.Equal(t, Stock{Available: 10}, e.stock(t, p[2]), "%s: the product not tried is untouched", tc.name)
		}
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
