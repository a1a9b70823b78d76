package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/barrier"
	"github.com/daprshop/daprshop/internal/state"
)

// chargeBranch is the branch of the checkout saga this service takes part
// in: per order (the saga's gid), its try is the charge and its cancel the
// refund.
const chargeBranch = "charge"

// service holds the use cases of the payments service. Every record lives
// in one transactional store (ledger.go lays them out), the barrier's own
// records included, so that a change of money commits together with the
// record that makes it happen once.
type service struct {
	store   state.Store
	barrier *barrier.Barrier
	now     func() time.Time
	credit  int64 // cents every new wallet starts with
}

func newService(store state.Store, now func() time.Time, credit int64, opts ...barrier.Option) *service {
	return &service{store: store, barrier: barrier.New(store, now, opts...), now: now, credit: credit}
}

// OpenWallet opens a new user's wallet with the starting credit, once: the
// wallet is inserted only if the user has none, so a redelivered event needs
// no other barrier.
func (s *service) OpenWallet(ctx context.Context, userID string) (bool, error) {
	op, err := state.Insert(walletKey(userID), Wallet{UserID: userID, BalanceCents: s.credit, OpenedAt: s.now().UTC()})
	if err != nil {
		return false, err
	}
	err = s.store.Transact(ctx, []state.Op{op})
	if errors.Is(err, state.ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open wallet of %s: %w", userID, err)
	}
	return true, nil
}

// Wallet returns a user's wallet.
func (s *service) Wallet(ctx context.Context, userID string) (Wallet, error) {
	if !isCanonicalUUID(userID) {
		return Wallet{}, apperr.InvalidFields(apperr.FieldError{Field: "id", Detail: "must be a UUID"})
	}
	w, err := state.Read[Wallet](ctx, s.store, walletKey(userID))
	if err != nil {
		return Wallet{}, fmt.Errorf("wallet of %s: %w", userID, err)
	}
	if !w.Found {
		return Wallet{}, apperr.E(apperr.NotFound, "no wallet yet: it is opened shortly after registration")
	}
	return w.Value, nil
}

// chargeReceipt is what a charge answers. It is the barrier's result of the
// charge, kept with its record, so that a repeat answers the very same.
type chargeReceipt struct {
	OrderID      string       `json:"order_id"`
	UserID       string       `json:"user_id"`
	AmountCents  int64        `json:"amount_cents"`
	Status       ChargeStatus `json:"status"`
	BalanceCents int64        `json:"balance_cents"` // the wallet's, right after the charge
}

// ChargeOrder moves an order's amount from its user's wallet to the
// merchant, once per order, and returns the receipt (as JSON) of the charge
// that did. A repeat of the same charge gets the first receipt; a repeat
// naming another user or amount is a conflict, and so is a charge that
// arrives after the order's refund.
func (s *service) ChargeOrder(ctx context.Context, orderID string, req chargeRequest) (json.RawMessage, error) {
	if !isCanonicalUUID(orderID) {
		return nil, apperr.InvalidFields(apperr.FieldError{Field: "order", Detail: "must be a lower-case UUID"})
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	out, err := s.do(ctx, orderID, barrier.Try, s.chargeWork(orderID, req))
	if err != nil {
		return nil, fmt.Errorf("charge order %s: %w", orderID, err)
	}
	if out.Blocked {
		return nil, apperr.E(apperr.Conflict, "the charge was cancelled: order %s was refunded before it was charged", orderID)
	}
	if out.Replayed {
		var first chargeReceipt
		if err := json.Unmarshal(out.Result, &first); err != nil {
			return nil, fmt.Errorf("decode the first charge of order %s: %w", orderID, err)
		}
		if first.UserID != req.UserID || first.AmountCents != req.AmountCents {
			return nil, apperr.E(apperr.Conflict, "order %s was charged already, to another user or for another amount", orderID)
		}
	}
	return out.Result, nil
}

// chargeWork debits the wallet and credits the order's merchant shard, or
// declines without writing anything. Both are read with the barrier's
// records.
func (s *service) chargeWork(orderID string, req chargeRequest) barrier.Work {
	shard := merchantShard(orderID)
	change := func(_ context.Context, items map[string]state.Item) (json.RawMessage, []state.Op, error) {
		wallet, err := state.Lookup[Wallet](items, walletKey(req.UserID))
		if err != nil {
			return nil, nil, err
		}
		if !wallet.Found {
			return nil, nil, apperr.E(apperr.Unprocessable, "declined: the user has no wallet")
		}
		if wallet.Value.BalanceCents < req.AmountCents {
			return nil, nil, apperr.E(apperr.Unprocessable, "declined: the wallet's balance is below the amount")
		}
		merchant, err := state.Lookup[merchantAccount](items, merchantKey(shard))
		if err != nil {
			return nil, nil, err
		}
		if merchant.Value.BalanceCents > math.MaxInt64-req.AmountCents {
			return nil, nil, fmt.Errorf("merchant shard %d would overflow", shard)
		}
		wallet.Value.BalanceCents -= req.AmountCents
		merchant.Value.BalanceCents += req.AmountCents
		charge := state.Record[Charge]{Key: chargeKey(orderID), Value: Charge{
			OrderID: orderID, UserID: req.UserID, AmountCents: req.AmountCents, Status: StatusCharged,
			MerchantShard: shard, ChargedAt: s.now().UTC(),
		}}
		ops, err := state.Ops(wallet.Write, merchant.Write, charge.Write)
		if err != nil {
			return nil, nil, err
		}
		receipt, err := json.Marshal(chargeReceipt{
			OrderID: orderID, UserID: req.UserID, AmountCents: req.AmountCents, Status: StatusCharged,
			BalanceCents: wallet.Value.BalanceCents,
		})
		if err != nil {
			return nil, nil, err
		}
		return receipt, ops, nil
	}
	return barrier.Work{Reads: []string{walletKey(req.UserID), merchantKey(shard)}, Change: change}
}

// refundNone is the status of a refund that found no charge to undo.
const refundNone = "none"

// refundReceipt is what a refund answers: status refunded, or none when
// the order was never charged (and now never will be).
type refundReceipt struct {
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
}

// RefundOrder gives an order's charge back, once. A refund that arrives
// before its charge (or for an order never charged) succeeds doing nothing,
// and the charge, should it still come, is refused: the saga's compensation
// can never be overtaken by the step it compensates.
func (s *service) RefundOrder(ctx context.Context, orderID string) (refundReceipt, error) {
	if !isCanonicalUUID(orderID) {
		return refundReceipt{}, apperr.InvalidFields(apperr.FieldError{Field: "order", Detail: "must be a lower-case UUID"})
	}
	out, err := s.do(ctx, orderID, barrier.Cancel, s.refundWork(orderID))
	if err != nil {
		return refundReceipt{}, fmt.Errorf("refund order %s: %w", orderID, err)
	}
	if out.Empty {
		return refundReceipt{OrderID: orderID, Status: refundNone}, nil
	}
	var r refundReceipt
	if err := json.Unmarshal(out.Result, &r); err != nil {
		return refundReceipt{}, fmt.Errorf("decode the refund of order %s: %w", orderID, err)
	}
	return r, nil
}

// refundWork moves a charge's money back from its merchant shard to the
// wallet. The barrier runs it only after a charge that happened, whose
// record was written with it.
func (s *service) refundWork(orderID string) barrier.Work {
	change := func(ctx context.Context, items map[string]state.Item) (json.RawMessage, []state.Op, error) {
		charge, err := state.Lookup[Charge](items, chargeKey(orderID))
		if err != nil {
			return nil, nil, err
		}
		if !charge.Found || charge.Value.Status != StatusCharged {
			return nil, nil, fmt.Errorf("order %s has a charge barrier record but its charge is %q", orderID, charge.Value.Status)
		}
		c := charge.Value
		items, err = s.store.Get(ctx, walletKey(c.UserID), merchantKey(c.MerchantShard))
		if err != nil {
			return nil, nil, err
		}
		wallet, err := state.Lookup[Wallet](items, walletKey(c.UserID))
		if err != nil {
			return nil, nil, err
		}
		merchant, err := state.Lookup[merchantAccount](items, merchantKey(c.MerchantShard))
		if err != nil {
			return nil, nil, err
		}
		if !wallet.Found || merchant.Value.BalanceCents < c.AmountCents {
			return nil, nil, fmt.Errorf("refund of order %s: wallet found %t, merchant shard %d holds %d cents, below the charge", orderID, wallet.Found, c.MerchantShard, merchant.Value.BalanceCents)
		}
		wallet.Value.BalanceCents += c.AmountCents
		merchant.Value.BalanceCents -= c.AmountCents
		refunded := s.now().UTC()
		charge.Value.Status, charge.Value.RefundedAt = StatusRefunded, &refunded
		ops, err := state.Ops(wallet.Write, merchant.Write, charge.Write)
		if err != nil {
			return nil, nil, err
		}
		receipt, err := json.Marshal(refundReceipt{OrderID: orderID, Status: string(StatusRefunded)})
		if err != nil {
			return nil, nil, err
		}
		return receipt, ops, nil
	}
	return barrier.Work{Reads: []string{chargeKey(orderID)}, Change: change}
}

// Charge returns an order's charge.
func (s *service) Charge(ctx context.Context, orderID string) (Charge, error) {
	if !isCanonicalUUID(orderID) {
		return Charge{}, apperr.InvalidFields(apperr.FieldError{Field: "order", Detail: "must be a lower-case UUID"})
	}
	c, err := state.Read[Charge](ctx, s.store, chargeKey(orderID))
	if err != nil {
		return Charge{}, fmt.Errorf("charge of order %s: %w", orderID, err)
	}
	if !c.Found {
		return Charge{}, apperr.E(apperr.NotFound, "order %s was not charged", orderID)
	}
	return c.Value, nil
}

// MerchantBalance returns the merchant's balance: the sum of its shards,
// read in one bulk call.
func (s *service) MerchantBalance(ctx context.Context) (int64, error) {
	keys := make([]string, merchantShards)
	for i := range keys {
		keys[i] = merchantKey(i)
	}
	items, err := s.store.Get(ctx, keys...)
	if err != nil {
		return 0, fmt.Errorf("merchant balance: %w", err)
	}
	var sum int64
	for _, k := range keys {
		m, err := state.Lookup[merchantAccount](items, k)
		if err != nil {
			return 0, err
		}
		sum += m.Value.BalanceCents
	}
	return sum, nil
}

// do runs an op of the order's charge branch behind the barrier, which runs
// it again after a short pause whenever others wrote the same wallet or
// merchant shard first, so that contention alone does not fail it. Only
// when it keeps losing is it Unavailable: the caller may retry.
func (s *service) do(ctx context.Context, orderID string, kind barrier.Kind, work barrier.Work) (barrier.Outcome, error) {
	out, err := s.barrier.Do(ctx, orderID, chargeBranch, kind, work)
	if errors.Is(err, state.ErrConflict) {
		return barrier.Outcome{}, apperr.Wrap(apperr.Unavailable, err, "the wallet or the merchant account is busy; try again")
	}
	return out, err
}
