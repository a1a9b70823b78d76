package main

import (
	"context"
	"fmt"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
)

// inboxStore keeps inboxes. AddOnce applies a notification at most once per
// event id, and reports whether it did (false: seen before).
type inboxStore interface {
	AddOnce(ctx context.Context, userID, eventID string, n Notification) (bool, error)
	Inbox(ctx context.Context, userID string) (Inbox, error)
}

// service holds the use cases of the notifications service.
type service struct {
	store inboxStore
	now   func() time.Time
}

func newService(store inboxStore, now func() time.Time) *service {
	return &service{store: store, now: now}
}

// Welcome puts a welcome notification in a new user's inbox, once per event.
func (s *service) Welcome(ctx context.Context, eventID string, ev userRegistered) (bool, error) {
	added, err := s.store.AddOnce(ctx, ev.UserID, eventID, welcome(eventID, ev, s.now()))
	if err != nil {
		return false, fmt.Errorf("welcome user %s: %w", ev.UserID, err)
	}
	return added, nil
}

// OrderFinished tells a user how their order ended, once per event.
func (s *service) OrderFinished(ctx context.Context, eventID string, ev orderFinished) (bool, error) {
	added, err := s.store.AddOnce(ctx, ev.UserID, eventID, orderNotice(eventID, ev, s.now()))
	if err != nil {
		return false, fmt.Errorf("notify order %s: %w", ev.OrderID, err)
	}
	return added, nil
}

// List returns a user's notifications, newest first.
func (s *service) List(ctx context.Context, userID string) ([]Notification, error) {
	if !isCanonicalUUID(userID) {
		return nil, apperr.InvalidFields(apperr.FieldError{Field: "id", Detail: "must be a UUID"})
	}
	in, err := s.store.Inbox(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list notifications of %s: %w", userID, err)
	}
	if in.Items == nil {
		in.Items = []Notification{}
	}
	return in.Items, nil
}
