package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
)

// userStore keeps users. Create saves the user and publishes its event
// atomically: both happen or neither does.
type userStore interface {
	Create(ctx context.Context, u User, ev UserRegistered) error
	Get(ctx context.Context, id string) (User, error)
}

// service holds the use cases of the users service.
type service struct {
	store userStore
	now   func() time.Time
	newID func() string
}

func newService(store userStore, now func() time.Time, newID func() string) *service {
	return &service{store: store, now: now, newID: newID}
}

// Register creates a user and publishes user.registered with it.
func (s *service) Register(ctx context.Context, req RegisterRequest) (User, error) {
	if err := req.Validate(); err != nil {
		return User{}, err
	}
	u := User{ID: s.newID(), Email: normalizeEmail(req.Email), Name: strings.TrimSpace(req.Name), CreatedAt: s.now().UTC()}
	ev := UserRegistered{UserID: u.ID, Email: u.Email, Name: u.Name, RegisteredAt: u.CreatedAt}
	if err := s.store.Create(ctx, u, ev); err != nil {
		return User{}, fmt.Errorf("register user %s: %w", u.ID, err)
	}
	return u, nil
}

// Get returns a user by id.
func (s *service) Get(ctx context.Context, id string) (User, error) {
	if !isCanonicalUUID(id) {
		return User{}, apperr.InvalidFields(apperr.FieldError{Field: "id", Detail: "must be a UUID"})
	}
	u, err := s.store.Get(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	return u, nil
}
