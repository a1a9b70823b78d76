package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/state"
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

// memUsers is the user store on a memory state store, for the unit tests,
// counting the calls they look at; mem.Fail makes it a store that is down.
type memUsers struct {
	*stateUserStore
	mem         *state.MemoryStore
	createCalls atomic.Int64
	createErr   error // returned by Create only
	getCalls    atomic.Int64
}

var _ userStore = (*memUsers)(nil)

// newMemUsers returns a store holding users (registered before: no event).
func newMemUsers(users ...User) *memUsers {
	mem := state.NewMemoryStore()
	s := &memUsers{stateUserStore: newStateUserStore(mem), mem: mem}
	for _, u := range users {
		s.put(u)
	}
	return s
}

// put stores u and its email's reservation as they are, outside the use
// cases.
func (s *memUsers) put(u User) {
	for key, v := range map[string]any{userKey(u.ID): u, emailKey(u.Email): emailRecord{UserID: u.ID}} {
		b, err := json.Marshal(v)
		if err == nil {
			err = s.mem.Put(context.Background(), state.Op{Key: key, Value: b})
		}
		if err != nil {
			panic(err)
		}
	}
}

func (s *memUsers) Create(ctx context.Context, u User, ev UserRegistered) error {
	s.createCalls.Add(1)
	if s.createErr != nil {
		return s.createErr
	}
	return s.stateUserStore.Create(ctx, u, ev)
}

func (s *memUsers) Get(ctx context.Context, id string) (User, error) {
	s.getCalls.Add(1)
	return s.stateUserStore.Get(ctx, id)
}

// users returns the users stored, by id.
func (s *memUsers) users() map[string]User {
	out := map[string]User{}
	for _, it := range s.mem.Snapshot("user-") {
		var u User
		if err := json.Unmarshal(it.Value, &u); err != nil {
			panic(err)
		}
		out[u.ID] = u
	}
	return out
}

// events returns the events the store's outbox published.
func (s *memUsers) events() []UserRegistered {
	var out []UserRegistered
	for _, b := range s.mem.Published() {
		var ev UserRegistered
		if err := json.Unmarshal(b, &ev); err != nil {
			panic(err)
		}
		out = append(out, ev)
	}
	return out
}

// emails returns the keys of the email reservations stored.
func (s *memUsers) emails() []string { return slices.Sorted(maps.Keys(s.mem.Snapshot("email-"))) }

// fakeTokens issues a token that names its subject, so tests can see which
// user it was issued for.
type fakeTokens struct{ err error }

func (f fakeTokens) Issue(_ context.Context, subject string, now time.Time) (string, time.Time, error) {
	return "token-for-" + subject, now.Add(time.Hour), f.err
}

func newTestService(store *memUsers) *service {
	svc, err := newService(store, fakeTokens{}, fixedNow, fixedID, bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return svc
}

func newTestServer(store *memUsers, ready func(context.Context) error) http.Handler {
	return newServer(discard, newTestService(store), ready, testToken)
}

func newRegisterRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/users", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(web.AppTokenHeader, testToken)
	return r
}

func TestRegisterUser(t *testing.T) {
	t.Parallel()
	store := newMemUsers()
	h := newTestServer(store, ready)
	w := httptest.NewRecorder()

	h.ServeHTTP(w, newRegisterRequest(`{"email":"  Ada@Example.COM ","name":"Ada Lovelace","password":"correct horse battery"}`))

	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.JSONEq(t, `{
		"id": "`+fixedUUID+`",
		"email": "ada@example.com",
		"name": "Ada Lovelace",
		"created_at": "2025-01-02T03:04:05Z"
	}`, w.Body.String())

	assert.NotContains(t, w.Body.String(), "password")
	assert.Equal(t, int64(1), store.createCalls.Load())
	stored := store.users()[fixedUUID]
	require.NoError(t, bcrypt.CompareHashAndPassword(stored.PasswordHash, []byte("correct horse battery")), "the password is kept as its bcrypt hash")
	stored.PasswordHash = nil
	assert.Equal(t, User{ID: fixedUUID, Email: "ada@example.com", Name: "Ada Lovelace", CreatedAt: wantCreatedAt}, stored)
	assert.Equal(t, []UserRegistered{
		{UserID: fixedUUID, Email: "ada@example.com", Name: "Ada Lovelace", RegisteredAt: wantCreatedAt},
	}, store.events())
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
		{"missing name", "application/json", `{"email":"ada@example.com","password":"correct horse battery"}`, http.StatusBadRequest, []string{"name"}},
		{"short password", "application/json", `{"email":"ada@example.com","name":"Ada","password":"short"}`, http.StatusBadRequest, []string{"password"}},
		{"blank name", "application/json", `{"email":"ada@example.com","name":"   ","password":"correct horse battery"}`, http.StatusBadRequest, []string{"name"}},
		{"bad email", "application/json", `{"email":"ada.example.com","name":"Ada","password":"correct horse battery"}`, http.StatusBadRequest, []string{"email"}},
		{"email with a display name", "application/json", `{"email":"Ada <ada@example.com>","name":"Ada","password":"correct horse battery"}`, http.StatusBadRequest, []string{"email"}},
		{"all missing", "application/json", `{}`, http.StatusBadRequest, []string{"email", "name", "password"}},
		{"unknown field", "application/json", `{"email":"ada@example.com","name":"Ada","admin":true}`, http.StatusBadRequest, []string{"admin"}},
		{"wrong type", "application/json", `{"email":"ada@example.com","name":7,"password":"correct horse battery"}`, http.StatusBadRequest, []string{"name"}},
		{"malformed JSON", "application/json", `{"email":"ada@example.com",}`, http.StatusBadRequest, nil},
		{"empty body", "application/json", ``, http.StatusBadRequest, nil},
		{"two values", "application/json", `{"email":"ada@example.com","name":"Ada","password":"correct horse battery"}{}`, http.StatusBadRequest, nil},
		{"over 1 MiB", "application/json", `{"email":"ada@example.com","name":"` + strings.Repeat("a", web.MaxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge, nil},
		{"not JSON", "text/plain", `{"email":"ada@example.com","name":"Ada","password":"correct horse battery"}`, http.StatusUnsupportedMediaType, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newMemUsers()
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
			assert.Zero(t, store.createCalls.Load(), "a refused request must not reach the store")
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
			store := newMemUsers()
			store.mem.Fail(tt.err)
			h := newTestServer(store, ready)
			w := httptest.NewRecorder()

			h.ServeHTTP(w, newRegisterRequest(`{"email":"ada@example.com","name":"Ada","password":"correct horse battery"}`))

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
			assert.NotContains(t, w.Body.String(), "10.0.0.5")
			assert.NotContains(t, w.Body.String(), "connection refused")
			var p web.Problem
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
			assert.Equal(t, tt.wantDetail, p.Detail)
			assert.Empty(t, store.users(), "nothing stored")
		})
	}
}

func TestRegisterUserTwiceConflicts(t *testing.T) {
	t.Parallel()
	store := newMemUsers()
	h := newTestServer(store, ready)
	first := httptest.NewRecorder()
	h.ServeHTTP(first, newRegisterRequest(`{"email":"ada@example.com","name":"Ada","password":"correct horse battery"}`))
	require.Equal(t, http.StatusCreated, first.Code)
	second := httptest.NewRecorder()

	// fixedID hands out the same id again, as a UUID collision would.
	h.ServeHTTP(second, newRegisterRequest(`{"email":"bob@example.com","name":"Bob","password":"correct horse battery"}`))

	assert.Equal(t, http.StatusConflict, second.Code)
	assert.Len(t, store.events(), 1)
	assert.Equal(t, "ada@example.com", store.users()[fixedUUID].Email)
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
		{"register without token", http.MethodPost, "/users", `{"email":"ada@example.com","name":"Ada","password":"correct horse battery"}`, ""},
		{"register with wrong token", http.MethodPost, "/users", `{"email":"ada@example.com","name":"Ada","password":"correct horse battery"}`, "guess"},
		{"get without token", http.MethodGet, "/users/" + fixedUUID, ``, ""},
		{"get with wrong token", http.MethodGet, "/users/" + fixedUUID, ``, "tokenx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newMemUsers(User{ID: fixedUUID, Email: "ada@example.com", Name: "Ada"})
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
			assert.Zero(t, store.createCalls.Load())
			assert.Zero(t, store.getCalls.Load())
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
			store := newMemUsers(ada)
			store.mem.Fail(tt.storeErr)
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
				assert.Zero(t, store.getCalls.Load(), "an invalid id must not reach the store")
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
			store := newMemUsers()
			h := newTestServer(store, func(context.Context) error { return tt.readyErr })
			w := httptest.NewRecorder()

			h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, tt.wantType, w.Header().Get("Content-Type"))
			assert.NotContains(t, w.Body.String(), "connection refused")
			assert.Zero(t, store.createCalls.Load()+store.getCalls.Load())
		})
	}
}

func TestRegisterUserStoresTheTrimmedName(t *testing.T) {
	t.Parallel()
	store := newMemUsers()
	h := newTestServer(store, ready)
	w := httptest.NewRecorder()

	h.ServeHTTP(w, newRegisterRequest(`{"email":"ada@example.com","name":"\tAda\u0085\n","password":"correct horse battery"}`))

	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	assert.Equal(t, "Ada", store.users()[fixedUUID].Name)
	require.Len(t, store.events(), 1)
	assert.Equal(t, "Ada", store.events()[0].Name)
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
			store := newMemUsers()
			store.put(User{ID: fixedUUID})
			r := httptest.NewRequest(http.MethodGet, "/users/"+url.PathEscape(id), nil)
			r.Header.Set(web.AppTokenHeader, testToken)
			w := httptest.NewRecorder()

			newTestServer(store, ready).ServeHTTP(w, r)

			assert.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
		})
	}
}
