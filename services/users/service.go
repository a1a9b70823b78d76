package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/daprshop/daprshop/internal/apperr"
)

// userStore keeps users. Create saves the user and publishes its event
// atomically: both happen or neither does. An email is reserved for one user
// id before that user is created, which is what makes emails unique.
type userStore interface {
	ReserveEmail(ctx context.Context, email, userID string, now time.Time) error
	ReleaseEmail(ctx context.Context, email, userID string) error
	Create(ctx context.Context, u User, ev UserRegistered) error
	Get(ctx context.Context, id string) (User, error)
	FindByEmail(ctx context.Context, email string) (User, error)
}

// tokenIssuer signs access tokens.
type tokenIssuer interface {
	Issue(ctx context.Context, subject string, now time.Time) (string, time.Time, error)
}

// service holds the use cases of the users service.
type service struct {
	store      userStore
	tokens     tokenIssuer
	now        func() time.Time
	newID      func() string
	bcryptCost int
	// dummyHash is compared against when the email is unknown, so that an
	// unknown email takes as long as a wrong password.
	dummyHash []byte
}

func newService(store userStore, tokens tokenIssuer, now func() time.Time, newID func() string, bcryptCost int) (*service, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte("not-a-password-of-anyone"), bcryptCost)
	if err != nil {
		return nil, fmt.Errorf("bcrypt cost %d: %w", bcryptCost, err)
	}
	return &service{store: store, tokens: tokens, now: now, newID: newID, bcryptCost: bcryptCost, dummyHash: dummy}, nil
}

// Register creates a user and publishes user.registered with it.
func (s *service) Register(ctx context.Context, req RegisterRequest) (User, error) {
	if err := req.Validate(); err != nil {
		return User{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(req.Password), s.bcryptCost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	now := s.now().UTC()
	u := User{ID: s.newID(), Email: normalizeEmail(req.Email), Name: strings.TrimSpace(req.Name), PasswordHash: hash, CreatedAt: now}
	if err := s.store.ReserveEmail(ctx, u.Email, u.ID, now); err != nil {
		return User{}, fmt.Errorf("register user: %w", err)
	}
	ev := UserRegistered{UserID: u.ID, Email: u.Email, Name: u.Name, RegisteredAt: u.CreatedAt}
	if err := s.store.Create(ctx, u, ev); err != nil {
		// Free the address for a retry; if this fails too, the reservation
		// expires on its own.
		if rerr := s.store.ReleaseEmail(ctx, u.Email, u.ID); rerr != nil {
			err = errors.Join(err, fmt.Errorf("release email: %w", rerr))
		}
		return User{}, fmt.Errorf("register user %s: %w", u.ID, err)
	}
	return u, nil
}

// errBadCredentials is the one answer for an unknown email and a wrong
// password, so that a login does not tell which emails have accounts.
var errBadCredentials = apperr.E(apperr.Unauthenticated, "wrong email or password")

// Login checks a password and issues an access token.
func (s *service) Login(ctx context.Context, req LoginRequest) (Session, error) {
	if err := req.Validate(); err != nil {
		return Session{}, err
	}
	u, err := s.store.FindByEmail(ctx, normalizeEmail(req.Email))
	if apperr.Is(err, apperr.NotFound) {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(req.Password))
		return Session{}, errBadCredentials
	}
	if err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(req.Password)) != nil {
		return Session{}, errBadCredentials
	}
	token, exp, err := s.tokens.Issue(ctx, u.ID, s.now())
	if err != nil {
		return Session{}, fmt.Errorf("login %s: %w", u.ID, err)
	}
	return Session{Token: token, ExpiresAt: exp.UTC()}, nil
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
