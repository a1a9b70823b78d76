package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/daprshop/daprshop/internal/barrier"
)

// The records payments keeps in its state store, one key each:
//
//	wallet-<user>                  Wallet: a user's money
//	merchant-<n>                   merchantAccount: shard n of the merchant's money
//	charge-<order>                 Charge: what an order moved, and whether it went back
//	barrier-<order>-charge-try     the barrier's record of the order's charge
//	barrier-<order>-charge-cancel  the barrier's record of its refund
//
// A charge or a refund writes the wallet and the merchant shard under the
// ETags they were read with, in one transaction with the charge record and
// the barrier record: money moves whole or not at all, so the sum of every
// wallet and every shard never changes, and it moves once per order.

func walletKey(userID string) string  { return "wallet-" + userID }
func chargeKey(orderID string) string { return "charge-" + orderID }
func merchantKey(shard int) string    { return "merchant-" + strconv.Itoa(shard) }

// versioned is a record with the ETag it was read with ("" for a record
// that did not exist), so that writing it back loses to any write made
// since.
type versioned[T any] struct {
	key   string
	value T
	etag  string
}

// lookup decodes the record under key from items (a Get's answer), and
// reports whether it was there; a missing record is T's zero value, to be
// inserted.
func lookup[T any](items map[string]barrier.Item, key string) (versioned[T], bool, error) {
	v := versioned[T]{key: key}
	it, ok := items[key]
	if !ok {
		return v, false, nil
	}
	if err := json.Unmarshal(it.Value, &v.value); err != nil {
		return v, false, fmt.Errorf("decode %s: %w", key, err)
	}
	v.etag = it.ETag
	return v, true, nil
}

// write returns the op that stores the record: under its ETag, or
// insert-only when it was not there when read.
func (v versioned[T]) write() (barrier.Op, error) {
	b, err := json.Marshal(v.value)
	if err != nil {
		return barrier.Op{}, fmt.Errorf("encode %s: %w", v.key, err)
	}
	return barrier.Op{Key: v.key, Value: b, ETag: v.etag, Insert: v.etag == ""}, nil
}

// writeAll returns the ops of several writes, or the first error.
func writeAll(writes ...func() (barrier.Op, error)) ([]barrier.Op, error) {
	ops := make([]barrier.Op, 0, len(writes))
	for _, w := range writes {
		op, err := w()
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}
