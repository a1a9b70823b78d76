package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

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
	// The sidecar's outbox publishes to its internal topic before the
	// transaction runs, and when the transaction then fails, daprd 1.18.2
	// retries the missing state in a loop without end: every later event of
	// this store waits behind it (docs/dapr-notes.md). So a create that
	// would conflict is refused before any transaction is sent. The first-
	// write below still guards the key; ids are fresh UUIDs, so no two
	// creates race for one.
	switch _, err := s.Get(ctx, u.ID); {
	case err == nil:
		return apperr.E(apperr.Conflict, "user %s already exists", u.ID)
	case !apperr.Is(err, apperr.NotFound):
		return err
	}
	ops := []*dapr.StateOperation{
		{
			Type: dapr.StateOperationTypeUpsert,
			Item: &dapr.SetStateItem{
				// No contentType on a transaction's writes: one state store
				// then needs a server module it may not have
				// (docs/dapr-notes.md).
				Key: userKey(u.ID), Value: record,
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
// plain save, outside the outbox transaction, because the outbox publishes
// every upsert of a transaction as an event. An email already claimed by an
// existing user is a conflict; a claim whose user never appeared is taken
// over once it is older than reservationTTL.
func (s *daprUserStore) ReserveEmail(ctx context.Context, email, userID string, now time.Time) error {
	key := emailKey(email)
	rec, err := json.Marshal(emailRecord{UserID: userID, ReservedAt: now})
	if err != nil {
		return err
	}
	err = s.client.SaveState(ctx, s.store, key, rec, jsonMeta, dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite))
	if err == nil {
		return nil
	}
	if !sidecar.IsETagMismatch(err) {
		return sidecar.Err(err, "reserve email")
	}
	item, err := s.client.GetState(ctx, s.store, key, nil)
	if err != nil {
		return sidecar.Err(err, "read email reservation")
	}
	var held emailRecord
	if item == nil || len(item.Value) == 0 || json.Unmarshal(item.Value, &held) != nil {
		return apperr.E(apperr.Conflict, "this email is being registered; try again")
	}
	if _, err := s.Get(ctx, held.UserID); err == nil {
		return apperr.E(apperr.Conflict, "this email is already registered")
	} else if !apperr.Is(err, apperr.NotFound) {
		return err
	}
	if now.Sub(held.ReservedAt) < reservationTTL {
		return apperr.E(apperr.Conflict, "this email is being registered; try again in a few seconds")
	}
	err = s.client.SaveStateWithETag(ctx, s.store, key, rec, item.Etag, jsonMeta)
	if sidecar.IsETagMismatch(err) {
		return apperr.E(apperr.Conflict, "this email is being registered; try again")
	}
	return sidecar.Err(err, "take over email reservation")
}

// ReleaseEmail deletes userID's reservation of email, if it still holds it.
func (s *daprUserStore) ReleaseEmail(ctx context.Context, email, userID string) error {
	key := emailKey(email)
	item, err := s.client.GetState(ctx, s.store, key, nil)
	if err != nil {
		return sidecar.Err(err, "read email reservation")
	}
	var held emailRecord
	if item == nil || len(item.Value) == 0 || json.Unmarshal(item.Value, &held) != nil || held.UserID != userID {
		return nil
	}
	err = s.client.DeleteStateWithETag(ctx, s.store, key, &dapr.ETag{Value: item.Etag}, nil, nil)
	if sidecar.IsETagMismatch(err) {
		return nil // someone else holds it now
	}
	return sidecar.Err(err, "release email")
}

// FindByEmail returns the user an email belongs to.
func (s *daprUserStore) FindByEmail(ctx context.Context, email string) (User, error) {
	item, err := s.client.GetState(ctx, s.store, emailKey(email), nil)
	if err != nil {
		return User{}, sidecar.Err(err, "read email")
	}
	var held emailRecord
	if item == nil || len(item.Value) == 0 {
		return User{}, apperr.E(apperr.NotFound, "no user with this email")
	}
	if err := json.Unmarshal(item.Value, &held); err != nil {
		return User{}, fmt.Errorf("decode email record: %w", err)
	}
	return s.Get(ctx, held.UserID)
}
