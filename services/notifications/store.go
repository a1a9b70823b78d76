package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/state"
)

var _ inboxStore = (*stateInboxStore)(nil)

// stateInboxStore keeps inboxes in a state store, one record per user, and
// one marker record per applied event.
type stateInboxStore struct {
	records state.Store
}

func newStateInboxStore(records state.Store) *stateInboxStore {
	return &stateInboxStore{records: records}
}

func inboxKey(userID string) string  { return "inbox-" + userID }
func eventKey(eventID string) string { return "event-" + eventID }

// markerTTL keeps an event's marker for twice the streams' retention (7
// days): long enough to catch any redelivery, and the store does not grow
// without bound.
const markerTTL = 14 * 24 * time.Hour

// marker records that an event was applied.
type marker struct {
	UserID    string    `json:"user_id"`
	AppliedAt time.Time `json:"applied_at"`
}

// maxAttempts bounds the optimistic-concurrency runs; past it, the caller
// answers RETRY and Dapr redelivers later.
const maxAttempts = 5

// AddOnce writes, in one transaction, a marker for the event (insert-only:
// it fails if the marker exists) and the inbox with n added (guarded by the
// inbox's ETag). Both are read first in one bulk call. A duplicate delivery
// finds the marker and changes nothing; two writers racing on one inbox
// conflict, and the loser reads again.
func (s *stateInboxStore) AddOnce(ctx context.Context, userID, eventID string, n Notification) (bool, error) {
	added := false
	err := state.Retries{Attempts: maxAttempts}.Do(ctx, func(ctx context.Context) error {
		items, err := s.records.Get(ctx, eventKey(eventID), inboxKey(userID))
		if err != nil {
			return fmt.Errorf("read event marker and inbox: %w", err)
		}
		if _, applied := items[eventKey(eventID)]; applied {
			return nil
		}
		in, err := state.Lookup[Inbox](items, inboxKey(userID))
		if err != nil {
			return err
		}
		in.Value.Add(n)
		inbox, err := in.Write()
		if err != nil {
			return err
		}
		mark, err := state.Insert(eventKey(eventID), marker{UserID: userID, AppliedAt: time.Now().UTC()})
		if err != nil {
			return err
		}
		mark.TTL = markerTTL
		if err := s.records.Transact(ctx, []state.Op{mark, inbox}); err != nil {
			return err
		}
		added = true
		return nil
	})
	if errors.Is(err, state.ErrConflict) {
		return false, apperr.Wrap(apperr.Conflict, err, "inbox of %s kept changing", userID)
	}
	if err != nil {
		return false, fmt.Errorf("save inbox: %w", err)
	}
	return added, nil
}

// Inbox reads a user's inbox; a user with none has an empty one.
func (s *stateInboxStore) Inbox(ctx context.Context, userID string) (Inbox, error) {
	in, err := state.Read[Inbox](ctx, s.records, inboxKey(userID))
	if err != nil {
		return Inbox{}, fmt.Errorf("read inbox: %w", err)
	}
	return in.Value, nil
}
