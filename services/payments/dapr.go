package main

import (
	"context"
	"encoding/json"
	"fmt"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/sidecar"
)

var _ walletStore = (*daprWalletStore)(nil)

// daprWalletStore keeps wallets in a Dapr state store, one record per user.
type daprWalletStore struct {
	client dapr.Client
	store  string
}

func newDaprWalletStore(client dapr.Client, store string) *daprWalletStore {
	return &daprWalletStore{client: client, store: store}
}

func walletKey(userID string) string { return "wallet-" + userID }

// Open writes the wallet insert-only (first-write, no ETag): a second open
// of the same user's wallet fails on the store and changes nothing.
func (s *daprWalletStore) Open(ctx context.Context, w Wallet) (bool, error) {
	b, err := json.Marshal(w)
	if err != nil {
		return false, err
	}
	err = s.client.SaveState(ctx, s.store, walletKey(w.UserID), b, map[string]string{"contentType": "application/json"},
		dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite))
	if sidecar.IsETagMismatch(err) {
		return false, nil
	}
	if err != nil {
		return false, sidecar.Err(err, "open wallet")
	}
	return true, nil
}

// Get reads a wallet; a user without one (yet) is not found.
func (s *daprWalletStore) Get(ctx context.Context, userID string) (Wallet, error) {
	item, err := s.client.GetState(ctx, s.store, walletKey(userID), nil)
	if err != nil {
		return Wallet{}, sidecar.Err(err, "read wallet")
	}
	if item == nil || len(item.Value) == 0 {
		return Wallet{}, apperr.E(apperr.NotFound, "no wallet yet: it is opened shortly after registration")
	}
	var w Wallet
	if err := json.Unmarshal(item.Value, &w); err != nil {
		return Wallet{}, fmt.Errorf("decode wallet of %s: %w", userID, err)
	}
	return w, nil
}
