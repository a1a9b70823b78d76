package main

import (
	"hash/fnv"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
)

// ChargeStatus is where a charge stands.
type ChargeStatus string

// The statuses of a charge: money moved to the merchant, then maybe back.
const (
	StatusCharged  ChargeStatus = "charged"
	StatusRefunded ChargeStatus = "refunded"
)

// Charge is the money one order moved from its user's wallet to the
// merchant. There is at most one per order: the order id is the saga's
// global transaction id, and the barrier lets the charge happen once.
type Charge struct {
	OrderID     string       `json:"order_id"`
	UserID      string       `json:"user_id"`
	AmountCents int64        `json:"amount_cents"`
	Status      ChargeStatus `json:"status"`
	// MerchantShard is the merchant record the charge credited; its refund
	// debits the same one, so that no shard ever goes below zero.
	MerchantShard int        `json:"merchant_shard"`
	ChargedAt     time.Time  `json:"charged_at"`
	RefundedAt    *time.Time `json:"refunded_at,omitempty"`
}

// maxChargeCents bounds one charge (100 million in currency units): far
// above any order, far below where sums of int64 cents could overflow.
const maxChargeCents = 10_000_000_000

// chargeRequest is the body of POST /charges/{order}.
type chargeRequest struct {
	UserID      string `json:"user_id"`
	AmountCents int64  `json:"amount_cents"`
}

// Validate names every offending field.
func (c *chargeRequest) Validate() error {
	var bad []apperr.FieldError
	if !isCanonicalUUID(c.UserID) {
		bad = append(bad, apperr.FieldError{Field: "user_id", Detail: "must be a lower-case UUID"})
	}
	if c.AmountCents < 1 || c.AmountCents > maxChargeCents {
		bad = append(bad, apperr.FieldError{Field: "amount_cents", Detail: "must be a whole number of cents from 1 to 10000000000"})
	}
	if len(bad) > 0 {
		return apperr.InvalidFields(bad...)
	}
	return nil
}

// merchantShards is how many records the merchant's balance is spread over.
// Every charge credits the merchant, so one record would be written by every
// checkout at once and most of them would lose the race on its ETag; spread
// over shards, charges contend only when their orders hash alike. The
// balance is the sum of the shards. Changing the number is safe: a charge
// records its shard, and its refund debits that one.
const merchantShards = 16

// merchantShard picks the shard an order's charge credits.
func merchantShard(orderID string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(orderID)) // a hash never fails to write
	return int(h.Sum32() % merchantShards)
}

// merchantAccount is one shard of the merchant's balance.
type merchantAccount struct {
	BalanceCents int64 `json:"balance_cents"`
}
