package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/state"
)

var _ userStore = (*stateUserStore)(nil)

// stateUserStore keeps users in a state store whose transactional outbox
// is configured to publish to user.registered.
type stateUserStore struct {
	records state.Store
}

func newStateUserStore(records state.Store) *stateUserStore {
	return &stateUserStore{records: records}
}

func userKey(id string) string { return "user-" + id }

// Create saves the user and its event in one outbox transaction. The outbox
// publishes every upsert of the transaction, so the transaction holds the
// user's insert only, plus a projection (the event payload) for the same
// key. daprd drops projections from the slice while ranging over it, so the
// projection must come last.
func (s *stateUserStore) Create(ctx context.Context, u User, ev UserRegistered) error {
	// The sidecar's outbox publishes to its internal topic before the
	// transaction runs, and when the transaction then fails, daprd 1.18.2
	// retries the missing state in a loop without end: every later event of
	// this store waits behind it (docs/dapr-notes.md). So a create that
	// would conflict is refused before any transaction is sent. The insert
	// below still guards the key; ids are fresh UUIDs, so no two creates
	// race for one.
	switch _, err := s.Get(ctx, u.ID); {
	case err == nil:
		return apperr.E(apperr.Conflict, "user %s already exists", u.ID)
	case !apperr.Is(err, apperr.NotFound):
		return err
	}
	user, err := state.Insert(userKey(u.ID), u)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	err = s.records.Transact(ctx, []state.Op{user, {Key: userKey(u.ID), Value: payload, Projection: true}})
	if errors.Is(err, state.ErrConflict) {
		return apperr.Wrap(apperr.Conflict, err, "user %s already exists", u.ID)
	}
	if err != nil {
		return fmt.Errorf("save user: %w", err)
	}
	outboxMessages.Inc()
	return nil
}

// outboxMessages counts the events handed to the outbox: each committed
// transaction above makes the store's component publish one.
var outboxMessages = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "daprshop_outbox_messages_total",
	Help: "Events committed to a state store's transactional outbox, by the topic its component publishes them to.",
}, []string{"topic"}).WithLabelValues("user.registered")

// Get reads a user.
func (s *stateUserStore) Get(ctx context.Context, id string) (User, error) {
	u, err := state.Read[User](ctx, s.records, userKey(id))
	if err != nil {
		return User{}, fmt.Errorf("read user: %w", err)
	}
	if !u.Found {
		return User{}, apperr.E(apperr.NotFound, "user %s not found", id)
	}
	return u.Value, nil
}

// emailKey names the record that reserves an email for one user id. The
// address is hashed so that keys have one length and charset.
func emailKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return "email-" + hex.EncodeToString(sum[:])
}

// emailRecord reserves an email for a user id.
type emailRecord struct {
	UserID     string    `json:"user_id"`
	ReservedAt time.Time `json:"reserved_at"`
}

// reservationTTL is how long a reservation whose user was never created
// (the process died between the two writes) blocks its email.
const reservationTTL = 30 * time.Second

// ReserveEmail claims an email for userID with an insert-only write. It is a
// single write, outside the outbox transaction, because the outbox publishes
// every upsert of a transaction as an event. An email already claimed by an
// existing user is a conflict; a claim whose user never appeared is taken
// over once it is older than reservationTTL.
func (s *stateUserStore) ReserveEmail(ctx context.Context, email, userID string, now time.Time) error {
	op, err := state.Insert(emailKey(email), emailRecord{UserID: userID, ReservedAt: now})
	if err != nil {
		return err
	}
	switch err := s.records.Put(ctx, op); {
	case err == nil:
		return nil
	case !errors.Is(err, state.ErrConflict):
		return fmt.Errorf("reserve email: %w", err)
	}
	held, err := state.Read[emailRecord](ctx, s.records, emailKey(email))
	if err != nil {
		return fmt.Errorf("read email reservation: %w", err)
	}
	if !held.Found {
		return apperr.E(apperr.Conflict, "this email is being registered; try again")
	}
	if _, err := s.Get(ctx, held.Value.UserID); err == nil {
		return apperr.E(apperr.Conflict, "this email is already registered")
	} else if !apperr.Is(err, apperr.NotFound) {
		return err
	}
	if now.Sub(held.Value.ReservedAt) < reservationTTL {
		return apperr.E(apperr.Conflict, "this email is being registered; try again in a few seconds")
	}
	held.Value = emailRecord{UserID: userID, ReservedAt: now}
	if op, err = held.Write(); err != nil {
		return err
	}
	switch err := s.records.Put(ctx, op); {
	case errors.Is(err, state.ErrConflict):
		return apperr.E(apperr.Conflict, "this email is being registered; try again")
	case err != nil:
		return fmt.Errorf("take over email reservation: %w", err)
	}
	return nil
}

// ReleaseEmail deletes userID's reservation of email, if it still holds it.
func (s *stateUserStore) ReleaseEmail(ctx context.Context, email, userID string) error {
	held, err := state.Read[emailRecord](ctx, s.records, emailKey(email))
	if err != nil {
		return fmt.Errorf("read email reservation: %w", err)
	}
	if !held.Found || held.Value.UserID != userID {
		return nil
	}
	switch err := s.records.Put(ctx, held.Delete()); {
	case errors.Is(err, state.ErrConflict):
		return nil // someone else holds it now
	case err != nil:
		return fmt.Errorf("release email: %w", err)
	}
	return nil
}

// FindByEmail returns the user an email belongs to.
func (s *stateUserStore) FindByEmail(ctx context.Context, email string) (User, error) {
	held, err := state.Read[emailRecord](ctx, s.records, emailKey(email))
	if err != nil {
		return User{}, fmt.Errorf("read email: %w", err)
	}
	if !held.Found {
		return User{}, apperr.E(apperr.NotFound, "no user with this email")
	}
	return s.Get(ctx, held.Value.UserID)
}
