package main

import "strconv"

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
// wallet and every shard never changes, and it moves once per order. Each
// is a state.Record: read with its ETag, written back under it.

func walletKey(userID string) string  { return "wallet-" + userID }
func chargeKey(orderID string) string { return "charge-" + orderID }
func merchantKey(shard int) string    { return "merchant-" + strconv.Itoa(shard) }
