package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/web"
)

const (
	testToken = "token"
	adaID     = "0b6c3f4e-6a8e-4a4b-9a57-3f0c2a8b9d11"
	credit    = 100000
)

var (
	discard  = slog.New(slog.NewTextHandler(io.Discard, nil))
	fixedNow = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }
)

func ready(context.Context) error { return nil }

// fakeWalletStore keeps wallets in memory and, like the Dapr store, opens
// a user's wallet once. When err is set, every call returns it.
type fakeWalletStore struct {
	mu      sync.Mutex
	wallets map[string]Wallet
	err     error
}

var _ walletStore = (*fakeWalletStore)(nil)

func newFakeWalletStore() *fakeWalletStore { return &fakeWalletStore{wallets: map[string]Wallet{}} }

func (s *fakeWalletStore) Open(_ context.Context, w Wallet) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false, s.err
	}
	if _, ok := s.wallets[w.UserID]; ok {
		return false, nil
	}
	s.wallets[w.UserID] = w
	return true, nil
}

func (s *fakeWalletStore) Get(_ context.Context, userID string) (Wallet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return Wallet{}, s.err
	}
	w, ok := s.wallets[userID]
	if !ok {
		return Wallet{}, apperr.E(apperr.NotFound, "no wallet yet")
	}
	return w, nil
}

func newTestServer(store *fakeWalletStore) http.Handler {
	return newServer(discard, newService(store, fixedNow, credit), ready, testToken)
}

func eventRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/events/user-registered", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/cloudevents+json")
	r.Header.Set(web.AppTokenHeader, testToken)
	return r
}

func event(id, userID string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"users","type":"com.dapr.event.sent","topic":"user.registered",
		"datacontenttype":"application/json","data":{"user_id":%q,"email":"ada@example.com","name":"Ada"}}`, id, userID)
}

func TestUserRegisteredOpensAFundedWalletOnce(t *testing.T) {
	t.Parallel()
	store := newFakeWalletStore()
	h := newTestServer(store)
	for _, id := range []string{"ev-1", "ev-1", "ev-2"} { // a redelivery, then a second event for the same user
		w := httptest.NewRecorder()
		h.ServeHTTP(w, eventRequest(event(id, adaID)))
		assert.JSONEq(t, `{"status":"SUCCESS"}`, w.Body.String())
	}
	assert.Equal(t, map[string]Wallet{adaID: {UserID: adaID, BalanceCents: credit, OpenedAt: fixedNow()}}, store.wallets)
}

func TestUserRegisteredFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		storeErr error
		want     string
	}{
		{"not JSON", `nope`, nil, "DROP"},
		{"no id", `{"data":{"user_id":"` + adaID + `"}}`, nil, "DROP"},
		{"user id not a UUID", event("ev-1", "ada"), nil, "DROP"},
		{"upper-case user id", event("ev-1", strings.ToUpper(adaID)), nil, "DROP"},
		{"store down", event("ev-1", adaID), apperr.Wrap(apperr.Unavailable, errors.New("db down"), "state store unavailable"), "RETRY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeWalletStore()
			store.err = tt.storeErr
			w := httptest.NewRecorder()
			newTestServer(store).ServeHTTP(w, eventRequest(tt.body))
			assert.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, `{"status":"`+tt.want+`"}`, w.Body.String())
			assert.Empty(t, store.wallets)
		})
	}
}

func TestGetWallet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		id         string
		token      string
		wantStatus int
		wantBody   string
	}{
		{"opened", adaID, testToken, http.StatusOK, `{"balance_cents":100000}`},
		{"not yet", "9b2d7c55-1e0f-4a8b-b6c3-2d4e5f607182", testToken, http.StatusNotFound, ""},
		{"not a UUID", "ada", testToken, http.StatusBadRequest, ""},
		{"no app token", adaID, "", http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeWalletStore()
			store.wallets[adaID] = Wallet{UserID: adaID, BalanceCents: credit}
			r := httptest.NewRequest(http.MethodGet, "/users/"+tt.id+"/wallet", nil)
			if tt.token != "" {
				r.Header.Set(web.AppTokenHeader, tt.token)
			}
			w := httptest.NewRecorder()
			newTestServer(store).ServeHTTP(w, r)
			require.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			if tt.wantBody != "" {
				assert.JSONEq(t, tt.wantBody, w.Body.String())
				return
			}
			var p web.Problem
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
			assert.Equal(t, tt.wantStatus, p.Status)
		})
	}
}
