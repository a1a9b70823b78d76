package main

import (
	"context"
	"encoding/json"
	"fmt"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/sidecar"
)

var _ userStore = (*daprUserStore)(nil)

// daprUserStore keeps users in a Dapr state store whose transactional outbox
// is configured to publish to user.registered.
type daprUserStore struct {
	client dapr.Client
	store  string
}

func newDaprUserStore(client dapr.Client, store string) *daprUserStore {
	return &daprUserStore{client: client, store: store}
}

func userKey(id string) string { return "user-" + id }

var jsonMeta = map[string]string{"contentType": "application/json"}

// Create saves the user and its event in one outbox transaction. The outbox
// publishes every upsert of the transaction, so the transaction holds the
// user's upsert only, plus a projection (the event payload) for the same
// key. daprd drops projections from the slice while ranging over it, so the
// projection must come last.
func (s *daprUserStore) Create(ctx context.Context, u User, ev UserRegistered) error {
	record, err := json.Marshal(u)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	ops := []*dapr.StateOperation{
		{
			Type: dapr.StateOperationTypeUpsert,
			Item: &dapr.SetStateItem{
				Key: userKey(u.ID), Value: record, Metadata: jsonMeta,
				Options: &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite},
			},
		},
		{
			Type: dapr.StateOperationTypeUpsert,
			Item: &dapr.SetStateItem{
				Key: userKey(u.ID), Value: payload,
				Metadata: map[string]string{"contentType": "application/json", "outbox.projection": "true"},
			},
		},
	}
	if err := s.client.ExecuteStateTransaction(ctx, s.store, nil, ops); err != nil {
		if sidecar.IsETagMismatch(err) {
			return apperr.Wrap(apperr.Conflict, err, "user %s already exists", u.ID)
		}
		return sidecar.Err(err, "save user")
	}
	return nil
}

// Get reads a user.
func (s *daprUserStore) Get(ctx context.Context, id string) (User, error) {
	item, err := s.client.GetState(ctx, s.store, userKey(id), nil)
	if err != nil {
		return User{}, sidecar.Err(err, "read user")
	}
	if item == nil || len(item.Value) == 0 {
		return User{}, apperr.E(apperr.NotFound, "user %s not found", id)
	}
	var u User
	if err := json.Unmarshal(item.Value, &u); err != nil {
		return User{}, fmt.Errorf("decode user %s: %w", id, err)
	}
	return u, nil
}
