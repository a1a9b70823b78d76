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
	store   barrier.Store
	barrier *barrier.Barrier
	now     func() time.Time
	credit  int64 // cents every new wallet starts with
}

func newService(store barrier.Store, now func() time.Time, credit int64, opts ...barrier.Option) *service {
	return &service{store: store, barrier: barrier.New(store, now, opts...), now: now, credit: credit}
}

// OpenWallet opens a new user's wallet with the starting credit, once: the
// wallet is inserted only if the user has none, so a redelivered event needs
// no other barrier.
func (s *service) OpenWallet(ctx context.Context, userID string) (bool, error) {
	op, err := versioned[Wallet]{key: walletKey(userID), value: Wallet{UserID: userID, BalanceCents: s.credit, OpenedAt: s.now().UTC()}}.write()
	if err != nil {
		return false, err
	}
	err = s.store.Transact(ctx, []barrier.Op{op})
	if errors.Is(err, barrier.ErrConflict) {
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
	items, err := s.store.Get(ctx, walletKey(userID))
	if err != nil {
		return Wallet{}, fmt.Errorf("wallet of %s: %w", userID, err)
	}
	w, ok, err := lookup[Wallet](items, walletKey(userID))
	if err != nil {
		return Wallet{}, err
	}
	if !ok {
		return Wallet{}, apperr.E(apperr.NotFound, "no wallet yet: it is opened shortly after registration")
	}
	return w.value, nil
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
// declines without writing anything.
func (s *service) chargeWork(orderID string, req chargeRequest) barrier.Work {
	return func(ctx context.Context) (json.RawMessage, []barrier.Op, error) {
		shard := merchantShard(orderID)
		items, err := s.store.Get(ctx, walletKey(req.UserID), merchantKey(shard))
		if err != nil {
			return nil, nil, err
		}
		wallet, ok, err := lookup[Wallet](items, walletKey(req.UserID))
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, apperr.E(apperr.Unprocessable, "declined: the user has no wallet")
		}
		if wallet.value.BalanceCents < req.AmountCents {
			return nil, nil, apperr.E(apperr.Unprocessable, "declined: the wallet's balance is below the amount")
		}
		merchant, _, err := lookup[merchantAccount](items, merchantKey(shard))
		if err != nil {
			return nil, nil, err
		}
		if merchant.value.BalanceCents > math.MaxInt64-req.AmountCents {
			return nil, nil, fmt.Errorf("merchant shard %d would overflow", shard)
		}
		wallet.value.BalanceCents -= req.AmountCents
		merchant.value.BalanceCents += req.AmountCents
		charge := versioned[Charge]{key: chargeKey(orderID), value: Charge{
			OrderID: orderID, UserID: req.UserID, AmountCents: req.AmountCents, Status: StatusCharged,
			MerchantShard: shard, ChargedAt: s.now().UTC(),
		}}
		ops, err := writeAll(wallet.write, merchant.write, charge.write)
		if err != nil {
			return nil, nil, err
		}
		receipt, err := json.Marshal(chargeReceipt{
			OrderID: orderID, UserID: req.UserID, AmountCents: req.AmountCents, Status: StatusCharged,
			BalanceCents: wallet.value.BalanceCents,
		})
		if err != nil {
			return nil, nil, err
		}
		return receipt, ops, nil
	}
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
	return func(ctx context.Context) (json.RawMessage, []barrier.Op, error) {
		items, err := s.store.Get(ctx, chargeKey(orderID))
		if err != nil {
			return nil, nil, err
		}
		charge, ok, err := lookup[Charge](items, chargeKey(orderID))
		if err != nil {
			return nil, nil, err
		}
		if !ok || charge.value.Status != StatusCharged {
			return nil, nil, fmt.Errorf("order %s has a charge barrier record but its charge is %q", orderID, charge.value.Status)
		}
		c := charge.value
		items, err = s.store.Get(ctx, walletKey(c.UserID), merchantKey(c.MerchantShard))
		if err != nil {
			return nil, nil, err
		}
		wallet, walletOK, err := lookup[Wallet](items, walletKey(c.UserID))
		if err != nil {
			return nil, nil, err
		}
		merchant, _, err := lookup[merchantAccount](items, merchantKey(c.MerchantShard))
		if err != nil {
			return nil, nil, err
		}
		if !walletOK || merchant.value.BalanceCents < c.AmountCents {
			return nil, nil, fmt.Errorf("refund of order %s: wallet found %t, merchant shard %d holds %d cents, below the charge", orderID, walletOK, c.MerchantShard, merchant.value.BalanceCents)
		}
		wallet.value.BalanceCents += c.AmountCents
		merchant.value.BalanceCents -= c.AmountCents
		refunded := s.now().UTC()
		charge.value.Status, charge.value.RefundedAt = StatusRefunded, &refunded
		ops, err := writeAll(wallet.write, merchant.write, charge.write)
		if err != nil {
			return nil, nil, err
		}
		receipt, err := json.Marshal(refundReceipt{OrderID: orderID, Status: string(StatusRefunded)})
		if err != nil {
			return nil, nil, err
		}
		return receipt, ops, nil
	}
}

// Charge returns an order's charge.
func (s *service) Charge(ctx context.Context, orderID string) (Charge, error) {
	if !isCanonicalUUID(orderID) {
		return Charge{}, apperr.InvalidFields(apperr.FieldError{Field: "order", Detail: "must be a lower-case UUID"})
	}
	items, err := s.store.Get(ctx, chargeKey(orderID))
	if err != nil {
		return Charge{}, fmt.Errorf("charge of order %s: %w", orderID, err)
	}
	c, ok, err := lookup[Charge](items, chargeKey(orderID))
	if err != nil {
		return Charge{}, err
	}
	if !ok {
		return Charge{}, apperr.E(apperr.NotFound, "order %s was not charged", orderID)
	}
	return c.value, nil
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
		m, _, err := lookup[merchantAccount](items, k)
		if err != nil {
			return 0, err
		}
		sum += m.value.BalanceCents
	}
	return sum, nil
}

// do runs an op of the order's charge branch behind the barrier, which runs
// it again after a short pause whenever others wrote the same wallet or
// merchant shard first, so that contention alone does not fail it. Only
// when it keeps losing is it Unavailable: the caller may retry.
func (s *service) do(ctx context.Context, orderID string, kind barrier.Kind, work barrier.Work) (barrier.Outcome, error) {
	out, err := s.barrier.Do(ctx, orderID, chargeBranch, kind, work)
	if errors.Is(err, barrier.ErrConflict) {
		return barrier.Outcome{}, apperr.Wrap(apperr.Unavailable, err, "the wallet or the merchant account is busy; try again")
	}
	return out, err
}
