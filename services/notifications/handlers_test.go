package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/state"
	"github.com/daprshop/daprshop/internal/web"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

const (
	testToken = "token"
	adaID     = "0b6c3f4e-6a8e-4a4b-9a57-3f0c2a8b9d11"
	bobID     = "9b2d7c55-1e0f-4a8b-b6c3-2d4e5f607182"
)

// fixedNow is in a zone other than UTC, so that tests see the service
// normalise it.
func fixedNow() time.Time { return time.Date(2025, 1, 2, 4, 4, 5, 0, time.FixedZone("CET", 3600)) }

var wantCreatedAt = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func ready(context.Context) error { return nil }

// memInboxes is the inbox store on a memory state store, for the unit
// tests, counting AddOnce calls; mem.Fail makes it a store that is down.
type memInboxes struct {
	*stateInboxStore
	mem      *state.MemoryStore
	addCalls atomic.Int64
}

var _ inboxStore = (*memInboxes)(nil)

func newMemInboxes() *memInboxes {
	mem := state.NewMemoryStore()
	return &memInboxes{stateInboxStore: newStateInboxStore(mem), mem: mem}
}

func (s *memInboxes) AddOnce(ctx context.Context, userID, eventID string, n Notification) (bool, error) {
	s.addCalls.Add(1)
	return s.stateInboxStore.AddOnce(ctx, userID, eventID, n)
}

// inboxes returns the inboxes stored, by user.
func (s *memInboxes) inboxes() map[string]Inbox {
	out := map[string]Inbox{}
	for k, it := range s.mem.Snapshot("inbox-") {
		var in Inbox
		if err := json.Unmarshal(it.Value, &in); err != nil {
			panic(err)
		}
		out[strings.TrimPrefix(k, "inbox-")] = in
	}
	return out
}

func newTestServer(store *memInboxes, ready func(context.Context) error) http.Handler {
	return newServer(discard, newService(store, fixedNow), ready, testToken)
}

func newListRequest(userID string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/users/"+userID+"/notifications", nil)
	r.Header.Set(web.AppTokenHeader, testToken)
	return r
}

func TestListNotifications(t *testing.T) {
	t.Parallel()
	store := newMemInboxes()
	ctx := context.Background()
	for i, id := range []string{"e1", "e2", "e3"} {
		_, err := store.AddOnce(ctx, adaID, id, Notification{ID: id, Kind: "welcome", Message: "hi", CreatedAt: wantCreatedAt.Add(time.Duration(i) * time.Minute)})
		require.NoError(t, err)
	}
	_, err := store.AddOnce(ctx, bobID, "e4", Notification{ID: "e4", Kind: "welcome", Message: "hi Bob", CreatedAt: wantCreatedAt})
	require.NoError(t, err)
	h := newTestServer(store, ready)
	w := httptest.NewRecorder()

	h.ServeHTTP(w, newListRequest(adaID))

	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"items":[
		{"id":"e3","kind":"welcome","message":"hi","created_at":"2025-01-02T03:06:05Z"},
		{"id":"e2","kind":"welcome","message":"hi","created_at":"2025-01-02T03:05:05Z"},
		{"id":"e1","kind":"welcome","message":"hi","created_at":"2025-01-02T03:04:05Z"}
	]}`, w.Body.String())
}

func TestListNotificationsEmptyInbox(t *testing.T) {
	t.Parallel()
	h := newTestServer(newMemInboxes(), ready)
	w := httptest.NewRecorder()

	h.ServeHTTP(w, newListRequest(adaID))

	require.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"items":[]}`, w.Body.String(), "an empty inbox is an empty array, not null")
}

func TestListNotificationsFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		userID     string
		storeErr   error
		wantStatus int
		wantFields []string
	}{
		{"id not a UUID", "ada", nil, http.StatusBadRequest, []string{"id"}},
		{"id a UUID with junk", adaID + "0", nil, http.StatusBadRequest, []string{"id"}},
		{"store unavailable", adaID, apperr.Wrap(apperr.Unavailable, errors.New("dial tcp 10.0.0.5:50001: connection refused"), "state store unavailable"), http.StatusServiceUnavailable, nil},
		{"corrupt record", adaID, errors.New("decode inbox: invalid character 'x'"), http.StatusInternalServerError, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newMemInboxes()
			store.mem.Fail(tt.storeErr)
			h := newTestServer(store, ready)
			w := httptest.NewRecorder()

			h.ServeHTTP(w, newListRequest(tt.userID))

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
			assert.NotContains(t, w.Body.String(), "10.0.0.5")
			assert.NotContains(t, w.Body.String(), "invalid character")
			var p web.Problem
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
			var fields []string
			for _, f := range p.Errors {
				fields = append(fields, f.Field)
			}
			assert.Equal(t, tt.wantFields, fields)
		})
	}
}

func TestAppTokenRequired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		path   string
		token  string
	}{
		{"list without token", http.MethodGet, "/users/" + adaID + "/notifications", ""},
		{"list with wrong token", http.MethodGet, "/users/" + adaID + "/notifications", "guess"},
		{"event without token", http.MethodPost, "/events/user-registered", ""},
		{"event with wrong token", http.MethodPost, "/events/user-registered", "tokenx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newMemInboxes()
			h := newTestServer(store, ready)
			r := httptest.NewRequest(tt.method, tt.path, newEventBody("e1", adaID))
			if tt.token != "" {
				r.Header.Set(web.AppTokenHeader, tt.token)
			}
			w := httptest.NewRecorder()

			h.ServeHTTP(w, r)

			assert.Equal(t, http.StatusUnauthorized, w.Code)
			assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
			assert.Zero(t, store.addCalls.Load())
			assert.Empty(t, store.inboxes())
		})
	}
}

func TestHealthAndRouting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		path       string
		readyErr   error
		wantStatus int
		wantType   string
	}{
		{"healthz needs no token", http.MethodGet, "/healthz", nil, http.StatusOK, "application/json"},
		{"healthz stays up when the sidecar is down", http.MethodGet, "/healthz", errors.New("sidecar down"), http.StatusOK, "application/json"},
		{"readyz ready", http.MethodGet, "/readyz", nil, http.StatusOK, "application/json"},
		{"readyz sidecar down", http.MethodGet, "/readyz", errors.New("dial tcp 127.0.0.1:3500: connection refused"), http.StatusServiceUnavailable, web.ProblemContentType},
		{"unknown path", http.MethodGet, "/nowhere", nil, http.StatusNotFound, web.ProblemContentType},
		{"wrong method on notifications", http.MethodPost, "/users/" + adaID + "/notifications", nil, http.StatusMethodNotAllowed, web.ProblemContentType},
		{"wrong method on the event route", http.MethodGet, "/events/user-registered", nil, http.StatusMethodNotAllowed, web.ProblemContentType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newTestServer(newMemInboxes(), func(context.Context) error { return tt.readyErr })
			w := httptest.NewRecorder()

			h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, tt.wantType, w.Header().Get("Content-Type"))
			assert.NotContains(t, w.Body.String(), "connection refused")
		})
	}
}
