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
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/web"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

const (
	testToken = "token"
	fixedUUID = "3f8e2a1c-4b5d-4e6f-8a9b-0c1d2e3f4a5b"
	otherUUID = "9b2d7c55-1e0f-4a8b-b6c3-2d4e5f607182"
)

// fixedNow is in a zone other than UTC, so that tests see the service
// normalise it.
func fixedNow() time.Time { return time.Date(2025, 1, 2, 4, 4, 5, 0, time.FixedZone("CET", 3600)) }

var wantCreatedAt = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func fixedID() string { return fixedUUID }

func ready(context.Context) error { return nil }

// fakeUserStore keeps users in a map and behaves like the Dapr store: a
// second Create of one id is a conflict, an unknown id is not found. When
// err is set, every call returns it.
type fakeUserStore struct {
	mu          sync.Mutex
	users       map[string]User
	events      []UserRegistered
	createCalls int
	getCalls    int
	err         error
}

var _ userStore = (*fakeUserStore)(nil)

func newFakeUserStore(users ...User) *fakeUserStore {
	s := &fakeUserStore{users: map[string]User{}}
	for _, u := range users {
		s.users[u.ID] = u
	}
	return s
}

func (s *fakeUserStore) Create(_ context.Context, u User, ev UserRegistered) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createCalls++
	if s.err != nil {
		return s.err
	}
	if _, ok := s.users[u.ID]; ok {
		return apperr.E(apperr.Conflict, "user %s already exists", u.ID)
	}
	s.users[u.ID] = u
	s.events = append(s.events, ev)
	return nil
}

func (s *fakeUserStore) Get(_ context.Context, id string) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.getCalls++
	if s.err != nil {
		return User{}, s.err
	}
	u, ok := s.users[id]
	if !ok {
		return User{}, apperr.E(apperr.NotFound, "user %s not found", id)
	}
	return u, nil
}

func newTestServer(store *fakeUserStore, ready func(context.Context) error) http.Handler {
	return newServer(discard, newService(store, fixedNow, fixedID), ready, testToken)
}

func newRegisterRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/users", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(web.AppTokenHeader, testToken)
	return r
}

func TestRegisterUser(t *testing.T) {
	t.Parallel()
	store := newFakeUserStore()
	h := newTestServer(store, ready)
	w := httptest.NewRecorder()

	h.ServeHTTP(w, newRegisterRequest(`{"email":"  Ada@Example.COM ","name":"Ada Lovelace"}`))

	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	assert.Equal(t, "/users/"+fixedUUID, w.Header().Get("Location"))
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.JSONEq(t, `{
		"id": "`+fixedUUID+`",
		"email": "ada@example.com",
		"name": "Ada Lovelace",
		"created_at": "2025-01-02T03:04:05Z"
	}`, w.Body.String())

	assert.Equal(t, 1, store.createCalls)
	assert.Equal(t, map[string]User{
		fixedUUID: {ID: fixedUUID, Email: "ada@example.com", Name: "Ada Lovelace", CreatedAt: wantCreatedAt},
	}, store.users)
	assert.Equal(t, []UserRegistered{
		{UserID: fixedUUID, Email: "ada@example.com", Name: "Ada Lovelace", RegisteredAt: wantCreatedAt},
	}, store.events)
}

func TestRegisterUserRefusesBadBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantFields  []string
	}{
		{"missing name", "application/json", `{"email":"ada@example.com"}`, http.StatusBadRequest, []string{"name"}},
		{"blank name", "application/json", `{"email":"ada@example.com","name":"   "}`, http.StatusBadRequest, []string{"name"}},
		{"bad email", "application/json", `{"email":"ada.example.com","name":"Ada"}`, http.StatusBadRequest, []string{"email"}},
		{"email with a display name", "application/json", `{"email":"Ada <ada@example.com>","name":"Ada"}`, http.StatusBadRequest, []string{"email"}},
		{"both missing", "application/json", `{}`, http.StatusBadRequest, []string{"email", "name"}},
		{"unknown field", "application/json", `{"email":"ada@example.com","name":"Ada","admin":true}`, http.StatusBadRequest, []string{"admin"}},
		{"wrong type", "application/json", `{"email":"ada@example.com","name":7}`, http.StatusBadRequest, []string{"name"}},
		{"malformed JSON", "application/json", `{"email":"ada@example.com",}`, http.StatusBadRequest, nil},
		{"empty body", "application/json", ``, http.StatusBadRequest, nil},
		{"two values", "application/json", `{"email":"ada@example.com","name":"Ada"}{}`, http.StatusBadRequest, nil},
		{"over 1 MiB", "application/json", `{"email":"ada@example.com","name":"` + strings.Repeat("a", web.MaxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge, nil},
		{"not JSON", "text/plain", `{"email":"ada@example.com","name":"Ada"}`, http.StatusUnsupportedMediaType, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeUserStore()
			h := newTestServer(store, ready)
			r := newRegisterRequest(tt.body)
			r.Header.Set("Content-Type", tt.contentType)
			w := httptest.NewRecorder()

			h.ServeHTTP(w, r)

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
			var p web.Problem
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
			assert.Equal(t, tt.wantStatus, p.Status)
			assert.NotEmpty(t, p.Detail)
			var fields []string
			for _, f := range p.Errors {
				fields = append(fields, f.Field)
			}
			assert.Equal(t, tt.wantFields, fields)
			assert.Zero(t, store.createCalls, "a refused request must not reach the store")
			assert.Empty(t, w.Header().Get("Location"))
		})
	}
}

func TestRegisterUserStoreFailures(t *testing.T) {
	t.Parallel()
	const cause = "dial tcp 10.0.0.5:50001: connection refused"
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantDetail string
	}{
		{"store unavailable", apperr.Wrap(apperr.Unavailable, errors.New(cause), "state store unavailable"), http.StatusServiceUnavailable, "state store unavailable"},
		{"duplicate user", apperr.Wrap(apperr.Conflict, errors.New(cause), "user %s already exists", fixedUUID), http.StatusConflict, "user " + fixedUUID + " already exists"},
		{"unexpected failure", fmt.Errorf("marshal: %w", errors.New(cause)), http.StatusInternalServerError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeUserStore()
			store.err = tt.err
			h := newTestServer(store, ready)
			w := httptest.NewRecorder()

			h.ServeHTTP(w, newRegisterRequest(`{"email":"ada@example.com","name":"Ada"}`))

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
			assert.NotContains(t, w.Body.String(), "10.0.0.5")
			assert.NotContains(t, w.Body.String(), "connection refused")
			var p web.Problem
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
			assert.Equal(t, tt.wantDetail, p.Detail)
			assert.Equal(t, 1, store.createCalls)
			assert.Empty(t, w.Header().Get("Location"))
		})
	}
}

func TestRegisterUserTwiceConflicts(t *testing.T) {
	t.Parallel()
	store := newFakeUserStore()
	h := newTestServer(store, ready)
	first := httptest.NewRecorder()
	h.ServeHTTP(first, newRegisterRequest(`{"email":"ada@example.com","name":"Ada"}`))
	require.Equal(t, http.StatusCreated, first.Code)
	second := httptest.NewRecorder()

	// fixedID hands out the same id again, as a UUID collision would.
	h.ServeHTTP(second, newRegisterRequest(`{"email":"bob@example.com","name":"Bob"}`))

	assert.Equal(t, http.StatusConflict, second.Code)
	assert.Len(t, store.events, 1)
	assert.Equal(t, "ada@example.com", store.users[fixedUUID].Email)
}

func TestAppTokenRequired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		token  string
	}{
		{"register without token", http.MethodPost, "/users", `{"email":"ada@example.com","name":"Ada"}`, ""},
		{"register with wrong token", http.MethodPost, "/users", `{"email":"ada@example.com","name":"Ada"}`, "guess"},
		{"get without token", http.MethodGet, "/users/" + fixedUUID, ``, ""},
		{"get with wrong token", http.MethodGet, "/users/" + fixedUUID, ``, "tokenx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeUserStore(User{ID: fixedUUID, Email: "ada@example.com", Name: "Ada"})
			h := newTestServer(store, ready)
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/json")
			if tt.token != "" {
				r.Header.Set(web.AppTokenHeader, tt.token)
			}
			w := httptest.NewRecorder()

			h.ServeHTTP(w, r)

			assert.Equal(t, http.StatusUnauthorized, w.Code)
			assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
			assert.NotContains(t, w.Body.String(), "ada@example.com")
			assert.Zero(t, store.createCalls)
			assert.Zero(t, store.getCalls)
		})
	}
}

func TestGetUser(t *testing.T) {
	t.Parallel()
	ada := User{ID: fixedUUID, Email: "ada@example.com", Name: "Ada", CreatedAt: wantCreatedAt}
	tests := []struct {
		name       string
		id         string
		storeErr   error
		wantStatus int
		wantBody   string
		wantFields []string
	}{
		{
			name:       "found",
			id:         fixedUUID,
			wantStatus: http.StatusOK,
			wantBody:   `{"id":"` + fixedUUID + `","email":"ada@example.com","name":"Ada","created_at":"2025-01-02T03:04:05Z"}`,
		},
		{name: "unknown id", id: otherUUID, wantStatus: http.StatusNotFound},
		{name: "id not a UUID", id: "ada", wantStatus: http.StatusBadRequest, wantFields: []string{"id"}},
		{name: "id a UUID with junk", id: fixedUUID + "x", wantStatus: http.StatusBadRequest, wantFields: []string{"id"}},
		{name: "store unavailable", id: fixedUUID, storeErr: apperr.Wrap(apperr.Unavailable, errors.New("connection refused"), "state store unavailable"), wantStatus: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeUserStore(ada)
			store.err = tt.storeErr
			h := newTestServer(store, ready)
			r := httptest.NewRequest(http.MethodGet, "/users/"+tt.id, nil)
			r.Header.Set(web.AppTokenHeader, testToken)
			w := httptest.NewRecorder()

			h.ServeHTTP(w, r)

			assert.Equal(t, tt.wantStatus, w.Code)
			if tt.wantBody != "" {
				assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
				assert.JSONEq(t, tt.wantBody, w.Body.String())
				return
			}
			assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
			assert.NotContains(t, w.Body.String(), "connection refused")
			var p web.Problem
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
			var fields []string
			for _, f := range p.Errors {
				fields = append(fields, f.Field)
			}
			assert.Equal(t, tt.wantFields, fields)
			if tt.wantFields != nil {
				assert.Zero(t, store.getCalls, "an invalid id must not reach the store")
			}
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
		{"wrong method on users", http.MethodGet, "/users", nil, http.StatusMethodNotAllowed, web.ProblemContentType},
		{"wrong method on a user", http.MethodDelete, "/users/" + fixedUUID, nil, http.StatusMethodNotAllowed, web.ProblemContentType},
		{"wrong method on healthz", http.MethodPost, "/healthz", nil, http.StatusMethodNotAllowed, web.ProblemContentType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeUserStore()
			h := newTestServer(store, func(context.Context) error { return tt.readyErr })
			w := httptest.NewRecorder()

			h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, tt.wantType, w.Header().Get("Content-Type"))
			assert.NotContains(t, w.Body.String(), "connection refused")
			assert.Zero(t, store.createCalls+store.getCalls)
		})
	}
}

func TestRegisterUserStoresTheTrimmedName(t *testing.T) {
	t.Parallel()
	store := newFakeUserStore()
	h := newTestServer(store, ready)
	w := httptest.NewRecorder()

	h.ServeHTTP(w, newRegisterRequest(`{"email":"ada@example.com","name":"\tAda\u0085\n"}`))

	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	assert.Equal(t, "Ada", store.users[fixedUUID].Name)
	require.Len(t, store.events, 1)
	assert.Equal(t, "Ada", store.events[0].Name)
}

func TestGetUserAcceptsOnlyTheStoredIDForm(t *testing.T) {
	t.Parallel()
	for _, id := range []string{
		strings.ToUpper(fixedUUID),
		"{" + fixedUUID + "}",
		"urn:uuid:" + fixedUUID,
		strings.ReplaceAll(fixedUUID, "-", ""),
	} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			store := newFakeUserStore()
			store.users[fixedUUID] = User{ID: fixedUUID}
			r := httptest.NewRequest(http.MethodGet, "/users/"+url.PathEscape(id), nil)
			r.Header.Set(web.AppTokenHeader, testToken)
			w := httptest.NewRecorder()

			newTestServer(store, ready).ServeHTTP(w, r)

			assert.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
		})
	}
}
