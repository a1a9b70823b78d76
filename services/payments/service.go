package main

import (
	"context"
	"fmt"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
)

// walletStore keeps wallets. Open creates a wallet unless the user has one,
// and reports whether it did: opening is idempotent per user, so a
// redelivered event needs no other barrier.
type walletStore interface {
	Open(ctx context.Context, w Wallet) (bool, error)
	Get(ctx context.Context, userID string) (Wallet, error)
}

// service holds the use cases of the payments service.
type service struct {
	store  walletStore
	now    func() time.Time
	credit int64 // cents every new wallet starts with
}

func newService(store walletStore, now func() time.Time, credit int64) *service {
	return &service{store: store, now: now, credit: credit}
}

// OpenWallet opens a new user's wallet with the starting credit, once.
func (s *service) OpenWallet(ctx context.Context, userID string) (bool, error) {
	opened, err := s.store.Open(ctx, Wallet{UserID: userID, BalanceCents: s.credit, OpenedAt: s.now().UTC()})
	if err != nil {
		return false, fmt.Errorf("open wallet of %s: %w", userID, err)
	}
	return opened, nil
}

// Wallet returns a user's wallet.
func (s *service) Wallet(ctx context.Context, userID string) (Wallet, error) {
	if !isCanonicalUUID(userID) {
		return Wallet{}, apperr.InvalidFields(apperr.FieldError{Field: "id", Detail: "must be a UUID"})
	}
	w, err := s.store.Get(ctx, userID)
	if err != nil {
		return Wallet{}, fmt.Errorf("wallet of %s: %w", userID, err)
	}
	return w, nil
}
