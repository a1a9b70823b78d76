package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/sidecar"
)

var _ inboxStore = (*daprInboxStore)(nil)

// daprInboxStore keeps inboxes in a Dapr state store, one record per user,
// and one marker record per applied event.
type daprInboxStore struct {
	client dapr.Client
	store  string
}

func newDaprInboxStore(client dapr.Client, store string) *daprInboxStore {
	return &daprInboxStore{client: client, store: store}
}

func inboxKey(userID string) string  { return "inbox-" + userID }
func eventKey(eventID string) string { return "event-" + eventID }

// markerTTL keeps an event's marker for twice the streams' retention (7
// days): long enough to catch any redelivery, and the store does not grow
// without bound.
var markerTTL = map[string]string{"ttlInSeconds": "1209600"}

// maxAttempts bounds the optimistic-concurrency loop; past it, the caller
// answers RETRY and Dapr redelivers later.
const maxAttempts = 5

// AddOnce writes, in one transaction, a marker for the event (first-write:
// it fails if the marker exists) and the inbox with n added (guarded by the
// inbox's ETag). Both are read first in one bulk call. A duplicate delivery
// finds the marker and changes nothing; two writers racing on one inbox
// conflict, and the loser re-reads.
func (s *daprInboxStore) AddOnce(ctx context.Context, userID, eventID string, n Notification) (bool, error) {
	for attempt := 1; ; attempt++ {
		items, err := s.client.GetBulkState(ctx, s.store, []string{eventKey(eventID), inboxKey(userID)}, nil, 0)
		if err != nil {
			return false, sidecar.Err(err, "read event marker and inbox")
		}
		var in Inbox
		var etag *dapr.ETag
		for _, it := range items {
			switch {
			case it.Error != "":
				return false, sidecar.Err(fmt.Errorf("read %s: %s", it.Key, it.Error), "read event marker and inbox")
			case len(it.Value) == 0:
			case it.Key == eventKey(eventID):
				return false, nil // applied before
			case it.Key == inboxKey(userID):
				if err := json.Unmarshal(it.Value, &in); err != nil {
					return false, fmt.Errorf("decode inbox of %s: %w", userID, err)
				}
				etag = &dapr.ETag{Value: it.Etag}
			}
		}
		in.Add(n)
		inbox, err := json.Marshal(in)
		if err != nil {
			return false, err
		}
		marker, err := json.Marshal(map[string]any{"user_id": userID, "applied_at": time.Now().UTC()})
		if err != nil {
			return false, err
		}
		firstWrite := &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite}
		ops := []*dapr.StateOperation{
			{Type: dapr.StateOperationTypeUpsert, Item: &dapr.SetStateItem{Key: eventKey(eventID), Value: marker, Options: firstWrite, Metadata: markerTTL}},
			{Type: dapr.StateOperationTypeUpsert, Item: &dapr.SetStateItem{Key: inboxKey(userID), Value: inbox, Etag: etag, Options: firstWrite}},
		}
		err = s.client.ExecuteStateTransaction(ctx, s.store, nil, ops)
		switch {
		case err == nil:
			return true, nil
		case !sidecar.IsETagMismatch(err):
			return false, sidecar.Err(err, "save inbox")
		case attempt == maxAttempts:
			return false, apperr.Wrap(apperr.Conflict, err, "inbox of %s kept changing", userID)
		}
	}
}

// Inbox reads a user's inbox; a user with none has an empty one.
func (s *daprInboxStore) Inbox(ctx context.Context, userID string) (Inbox, error) {
	item, err := s.client.GetState(ctx, s.store, inboxKey(userID), nil)
	if err != nil {
		return Inbox{}, sidecar.Err(err, "read inbox")
	}
	var in Inbox
	if item == nil || len(item.Value) == 0 {
		return in, nil
	}
	if err := json.Unmarshal(item.Value, &in); err != nil {
		return Inbox{}, fmt.Errorf("decode inbox of %s: %w", userID, err)
	}
	return in, nil
}
