package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/web"
)

func newLoginRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/sessions", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(web.AppTokenHeader, testToken)
	return r
}

func registered(t *testing.T) (*memUsers, http.Handler) {
	t.Helper()
	store := newMemUsers()
	h := newTestServer(store, ready)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, newRegisterRequest(`{"email":"ada@example.com","name":"Ada","password":"correct horse battery"}`))
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	return store, h
}

func TestLogin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantDetail string
	}{
		{"right password", `{"email":"ada@example.com","password":"correct horse battery"}`, http.StatusOK, ""},
		{"email in another case", `{"email":" ADA@example.com ","password":"correct horse battery"}`, http.StatusOK, ""},
		{"wrong password", `{"email":"ada@example.com","password":"wrong horse battery"}`, http.StatusUnauthorized, "wrong email or password"},
		{"unknown email, same answer", `{"email":"bob@example.com","password":"correct horse battery"}`, http.StatusUnauthorized, "wrong email or password"},
		{"missing password", `{"email":"ada@example.com"}`, http.StatusBadRequest, `field "password": required, at most 72 bytes`},
		{"unknown field", `{"email":"ada@example.com","password":"correct horse battery","admin":true}`, http.StatusBadRequest, `field "admin": unknown field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, h := registered(t)
			w := httptest.NewRecorder()

			h.ServeHTTP(w, newLoginRequest(tt.body))

			require.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			if tt.wantStatus != http.StatusOK {
				var p web.Problem
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
				assert.Equal(t, tt.wantDetail, p.Detail)
				return
			}
			var sess Session
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &sess))
			assert.Equal(t, "token-for-"+fixedUUID, sess.Token)
			assert.Equal(t, wantCreatedAt.Add(3600e9), sess.ExpiresAt)
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
		})
	}
}

func TestLoginWhenTheKeyIsUnavailable(t *testing.T) {
	t.Parallel()
	store := newMemUsers()
	svc := newTestService(store)
	svc.tokens = fakeTokens{err: apperr.Wrap(apperr.Unavailable, errors.New("secret store down"), "secret store unavailable")}
	h := newServer(discard, svc, ready, testToken)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, newRegisterRequest(`{"email":"ada@example.com","name":"Ada","password":"correct horse battery"}`))
	require.Equal(t, http.StatusCreated, w.Code)

	w = httptest.NewRecorder()
	h.ServeHTTP(w, newLoginRequest(`{"email":"ada@example.com","password":"correct horse battery"}`))

	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.NotContains(t, w.Body.String(), "secret store down")
}

func TestRegisterDuplicateEmail(t *testing.T) {
	t.Parallel()
	store, _ := registered(t)
	svc := newTestService(store)
	svc.newID = func() string { return otherUUID }
	h := newServer(discard, svc, ready, testToken)
	w := httptest.NewRecorder()

	h.ServeHTTP(w, newRegisterRequest(`{"email":"Ada@Example.com","name":"Other Ada","password":"another password!"}`))

	assert.Equal(t, http.StatusConflict, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), "already registered")
	assert.Len(t, store.users(), 1)
}

// A user that cannot be saved gives its email back, so that a retry works.
func TestRegisterReleasesTheEmailWhenCreateFails(t *testing.T) {
	t.Parallel()
	store := newMemUsers()
	store.createErr = apperr.Wrap(apperr.Unavailable, errors.New("disk full"), "state store unavailable")
	h := newTestServer(store, ready)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, newRegisterRequest(`{"email":"ada@example.com","name":"Ada","password":"correct horse battery"}`))
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Empty(t, store.emails(), "the reservation was released")

	store.createErr = nil
	w = httptest.NewRecorder()
	h.ServeHTTP(w, newRegisterRequest(`{"email":"ada@example.com","name":"Ada","password":"correct horse battery"}`))
	assert.Equal(t, http.StatusCreated, w.Code, w.Body.String())
}
