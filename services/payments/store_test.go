package main

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/daprdtest"
	"github.com/daprshop/daprshop/internal/state"
)

// countingStore counts transactions and the ones that lost a race. It
// yields after every read, so that concurrent ops interleave between their
// reads and their writes even on the memory store, as they do over a
// network.
type countingStore struct {
	state.Store
	transactions, conflicts atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, keys ...string) (map[string]state.Item, error) {
	items, err := s.Store.Get(ctx, keys...)
	runtime.Gosched()
	return items, err
}

func (s *countingStore) Transact(ctx context.Context, ops []state.Op) error {
	err := s.Store.Transact(ctx, ops)
	s.transactions.Add(1)
	if errors.Is(err, state.ErrConflict) {
		s.conflicts.Add(1)
	}
	return err
}

// money is what the given users' wallets and the merchant hold together.
func money(t *testing.T, svc *service, users ...string) int64 {
	t.Helper()
	ctx := context.Background()
	sum, err := svc.MerchantBalance(ctx)
	require.NoError(t, err)
	for _, u := range users {
		w, err := svc.Wallet(ctx, u)
		require.NoError(t, err)
		sum += w.BalanceCents
	}
	return sum
}

func walletOf(t *testing.T, svc *service, user string) int64 {
	t.Helper()
	w, err := svc.Wallet(context.Background(), user)
	require.NoError(t, err)
	return w.BalanceCents
}

// testLedgerContract is what the service must do on any state.Store; it
// runs on the memory store and on the Dapr adapter on a real sidecar, so
// that the fake cannot drift from the runtime. The cases that count the
// merchant's money, which every charge changes, run one after the other;
// the others in parallel.
func testLedgerContract(t *testing.T, store state.Store) {
	ctx := context.Background()
	opened := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	counted := &countingStore{Store: store}
	svc := newService(counted, func() time.Time { return opened }, 1000)

	// newUser opens a wallet holding 1000 cents.
	newUser := func(t *testing.T) string {
		t.Helper()
		u := uuid.NewString()
		ok, err := svc.OpenWallet(ctx, u)
		require.NoError(t, err)
		require.True(t, ok)
		return u
	}

	t.Run("a wallet opens once; the first one is kept", func(t *testing.T) {
		t.Parallel()
		user := uuid.NewString()
		ok, err := svc.OpenWallet(ctx, user)
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = newService(store, time.Now, 999).OpenWallet(ctx, user)
		require.NoError(t, err)
		assert.False(t, ok)
		got, err := svc.Wallet(ctx, user)
		require.NoError(t, err)
		assert.Equal(t, Wallet{UserID: user, BalanceCents: 1000, OpenedAt: opened}, got)
	})

	t.Run("concurrent opens open one wallet", func(t *testing.T) {
		t.Parallel()
		user := uuid.NewString()
		var wg sync.WaitGroup
		var count atomic.Int64
		for range 8 {
			wg.Go(func() {
				ok, err := svc.OpenWallet(ctx, user)
				assert.NoError(t, err)
				if ok {
					count.Add(1)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int64(1), count.Load())
	})

	t.Run("no wallet is not found", func(t *testing.T) {
		t.Parallel()
		_, err := svc.Wallet(ctx, uuid.NewString())
		assert.True(t, apperr.Is(err, apperr.NotFound), "got %v", err)
	})

	t.Run("a charge, its repeat, its refund and the refund's repeat move the money once each way", func(t *testing.T) {
		user, order := newUser(t), uuid.NewString()
		before := money(t, svc, user)
		first, err := svc.ChargeOrder(ctx, order, chargeRequest{UserID: user, AmountCents: 300})
		require.NoError(t, err)
		assert.JSONEq(t, `{"order_id":"`+order+`","user_id":"`+user+`","amount_cents":300,"status":"charged","balance_cents":700}`, string(first))
		again, err := svc.ChargeOrder(ctx, order, chargeRequest{UserID: user, AmountCents: 300})
		require.NoError(t, err)
		assert.Equal(t, string(first), string(again))
		assert.Equal(t, int64(700), walletOf(t, svc, user))
		assert.Equal(t, before, money(t, svc, user))

		for range 2 {
			r, err := svc.RefundOrder(ctx, order)
			require.NoError(t, err)
			assert.Equal(t, refundReceipt{OrderID: order, Status: "refunded"}, r)
			assert.Equal(t, int64(1000), walletOf(t, svc, user))
			assert.Equal(t, before, money(t, svc, user))
		}
		c, err := svc.Charge(ctx, order)
		require.NoError(t, err)
		refundedAt := opened
		assert.Equal(t, Charge{OrderID: order, UserID: user, AmountCents: 300, Status: StatusRefunded, MerchantShard: merchantShard(order), ChargedAt: opened, RefundedAt: &refundedAt}, c)
	})

	t.Run("a refund before its charge blocks it", func(t *testing.T) {
		user, order := newUser(t), uuid.NewString()
		before := money(t, svc, user)
		r, err := svc.RefundOrder(ctx, order)
		require.NoError(t, err)
		assert.Equal(t, refundReceipt{OrderID: order, Status: "none"}, r)
		_, err = svc.ChargeOrder(ctx, order, chargeRequest{UserID: user, AmountCents: 300})
		assert.True(t, apperr.Is(err, apperr.Conflict), "got %v", err)
		_, err = svc.Charge(ctx, order)
		assert.True(t, apperr.Is(err, apperr.NotFound), "got %v", err)
		assert.Equal(t, int64(1000), walletOf(t, svc, user))
		assert.Equal(t, before, money(t, svc, user))
	})

	t.Run("a charge racing its refund nets zero", func(t *testing.T) {
		user := newUser(t)
		before := money(t, svc, user)
		for i := range 10 {
			order := uuid.NewString()
			var wg sync.WaitGroup
			var chargeErr error
			var refund refundReceipt
			wg.Go(func() { _, chargeErr = svc.ChargeOrder(ctx, order, chargeRequest{UserID: user, AmountCents: 100}) })
			wg.Go(func() {
				var err error
				refund, err = svc.RefundOrder(ctx, order)
				assert.NoError(t, err)
			})
			wg.Wait()
			if refund.Status == "none" {
				assert.True(t, apperr.Is(chargeErr, apperr.Conflict), "round %d: the late charge is refused, got %v", i, chargeErr)
			} else {
				assert.NoError(t, chargeErr, "round %d", i)
				assert.Equal(t, "refunded", refund.Status, "round %d", i)
			}
			assert.Equal(t, int64(1000), walletOf(t, svc, user), "round %d", i)
		}
		assert.Equal(t, before, money(t, svc, user))
	})

	// Fifty checkouts of one user at once, each its own order, fight over
	// one wallet: none may fail for that alone, and the wallet runs dry at
	// exactly floor(balance / amount) charges.
	t.Run("concurrent charges of one user run the wallet dry exactly", func(t *testing.T) {
		user := newUser(t)
		before := money(t, svc, user)
		transactions, conflicts := counted.transactions.Load(), counted.conflicts.Load()
		const orders, amount = 50, 30
		var wg sync.WaitGroup
		var charged, declined atomic.Int64
		began := time.Now()
		for range orders {
			wg.Go(func() {
				_, err := svc.ChargeOrder(ctx, uuid.NewString(), chargeRequest{UserID: user, AmountCents: amount})
				switch {
				case err == nil:
					charged.Add(1)
				case apperr.Is(err, apperr.Unprocessable):
					declined.Add(1)
				default:
					assert.NoError(t, err)
				}
			})
		}
		wg.Wait()
		took := time.Since(began)
		assert.Equal(t, int64(1000/amount), charged.Load())
		assert.Equal(t, int64(orders-1000/amount), declined.Load())
		assert.Equal(t, int64(1000%amount), walletOf(t, svc, user))
		assert.Equal(t, before, money(t, svc, user))
		t.Logf("%d charges of one wallet in %s: %d transactions, %d lost a race",
			orders, took.Round(time.Millisecond), counted.transactions.Load()-transactions, counted.conflicts.Load()-conflicts)
	})

	// Two hundred checkouts of different users at once all credit the
	// merchant: its shards keep them from queueing on one record.
	t.Run("concurrent charges of many users all succeed", func(t *testing.T) {
		const checkouts, amount = 200, 7
		users := make([]string, checkouts)
		for i := range users {
			users[i] = newUser(t)
		}
		before := money(t, svc, users...)
		transactions, conflicts := counted.transactions.Load(), counted.conflicts.Load()
		var wg sync.WaitGroup
		began := time.Now()
		for _, u := range users {
			wg.Go(func() {
				_, err := svc.ChargeOrder(ctx, uuid.NewString(), chargeRequest{UserID: u, AmountCents: amount})
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		took := time.Since(began)
		assert.Equal(t, before, money(t, svc, users...))
		for _, u := range users {
			assert.Equal(t, int64(1000-amount), walletOf(t, svc, u))
		}
		t.Logf("%d charges of different users in %s: %d transactions, %d lost a race",
			checkouts, took.Round(time.Millisecond), counted.transactions.Load()-transactions, counted.conflicts.Load()-conflicts)
	})
}

func TestMemoryLedgerContract(t *testing.T) {
	t.Parallel()
	testLedgerContract(t, state.NewMemoryStore())
}

func TestDaprLedgerContract(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real daprd")
	}
	t.Parallel()
	sc := daprdtest.Start(t, "payments", daprdtest.StateStore("payments-store"))
	testLedgerContract(t, state.NewDaprStore(sc.Client, "payments-store"))
}
