package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/web"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestErrorStatusPerKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantDetail string
	}{
		{"internal", apperr.E(apperr.Internal, "internal error"), http.StatusInternalServerError, ""},
		{"invalid", apperr.E(apperr.Invalid, "bad request"), http.StatusBadRequest, "bad request"},
		{"unauthenticated", apperr.E(apperr.Unauthenticated, "who are you"), http.StatusUnauthorized, "who are you"},
		{"not found", apperr.E(apperr.NotFound, "user u1 not found"), http.StatusNotFound, "user u1 not found"},
		{"conflict", apperr.E(apperr.Conflict, "user u1 already exists"), http.StatusConflict, "user u1 already exists"},
		{"too large", apperr.E(apperr.TooLarge, "too big"), http.StatusRequestEntityTooLarge, "too big"},
		{"unsupported media", apperr.E(apperr.UnsupportedMedia, "not JSON"), http.StatusUnsupportedMediaType, "not JSON"},
		{"unprocessable", apperr.E(apperr.Unprocessable, "cannot do that"), http.StatusUnprocessableEntity, "cannot do that"},
		{"unavailable", apperr.E(apperr.Unavailable, "state store unavailable"), http.StatusServiceUnavailable, "state store unavailable"},
		{"unknown kind is internal", apperr.E(apperr.Kind(99), "odd"), http.StatusInternalServerError, ""},
		{"plain error is internal", errors.New("boom"), http.StatusInternalServerError, ""},
		{"kind found through wrapping", fmt.Errorf("get user: %w", apperr.E(apperr.NotFound, "user u1 not found")), http.StatusNotFound, "user u1 not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/users/u1", nil)

			web.Error(w, r, discard, tt.err)

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
			assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
			var p web.Problem
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
			assert.Equal(t, web.Problem{
				Type:     "about:blank",
				Title:    http.StatusText(tt.wantStatus),
				Status:   tt.wantStatus,
				Detail:   tt.wantDetail,
				Instance: "/users/u1",
			}, p)
		})
	}
}

func TestErrorKeepsInternalDetailOutOfServerErrors(t *testing.T) {
	t.Parallel()
	const secret = "dial tcp 10.0.0.5:50001: password=hunter2"
	cause := errors.New(secret)
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantDetail string
	}{
		{"plain error", fmt.Errorf("save user: %w", cause), http.StatusInternalServerError, ""},
		{"internal apperr", apperr.Wrap(apperr.Internal, cause, "query %s failed", "users"), http.StatusInternalServerError, ""},
		{"unavailable keeps its message only", fmt.Errorf("register user u1: %w", apperr.Wrap(apperr.Unavailable, cause, "state store unavailable")), http.StatusServiceUnavailable, "state store unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/users", nil)

			web.Error(w, r, logger, tt.err)

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.NotContains(t, w.Body.String(), "hunter2")
			assert.NotContains(t, w.Body.String(), "10.0.0.5")
			assert.NotContains(t, w.Body.String(), "register user")
			assert.NotContains(t, w.Body.String(), "query users failed")
			var p web.Problem
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
			assert.Equal(t, tt.wantDetail, p.Detail)
			assert.Contains(t, logs.String(), "hunter2", "the cause belongs in the log")
		})
	}
}

func TestErrorListsInvalidFields(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/users", nil)
	err := apperr.InvalidFields(
		apperr.FieldError{Field: "email", Detail: "required"},
		apperr.FieldError{Field: "name", Detail: "required"},
	)

	web.Error(w, r, discard, err)

	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.JSONEq(t, `{
		"type": "about:blank",
		"title": "Bad Request",
		"status": 400,
		"detail": "the request has invalid fields",
		"instance": "/users",
		"errors": [
			{"field": "email", "detail": "required"},
			{"field": "name", "detail": "required"}
		]
	}`, w.Body.String())
}

func TestErrorOmitsEmptyFields(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/users/u1", nil)

	web.Error(w, r, discard, apperr.E(apperr.NotFound, "user u1 not found"))

	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.NotContains(t, body, "errors")
}

func TestRequireAppToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		configured string
		sent       *string
		wantStatus int
		wantNext   bool
	}{
		{"missing token", "s3cret", nil, http.StatusUnauthorized, false},
		{"empty token", "s3cret", new(""), http.StatusUnauthorized, false},
		{"wrong token", "s3cret", new("guess"), http.StatusUnauthorized, false},
		{"prefix of the token", "s3cret", new("s3c"), http.StatusUnauthorized, false},
		{"token with a suffix", "s3cret", new("s3cret2"), http.StatusUnauthorized, false},
		{"right token", "s3cret", new("s3cret"), http.StatusNoContent, true},
		{"check disabled, no token", "", nil, http.StatusNoContent, true},
		{"check disabled, any token", "", new("whatever"), http.StatusNoContent, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			called := false
			next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				called = true
				w.WriteHeader(http.StatusNoContent)
			})
			h := web.RequireAppToken(discard, tt.configured)(next)
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/users/u1", nil)
			if tt.sent != nil {
				r.Header.Set(web.AppTokenHeader, *tt.sent)
			}

			h.ServeHTTP(w, r)

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, tt.wantNext, called)
			if !tt.wantNext {
				assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
				var p web.Problem
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
				assert.Equal(t, http.StatusUnauthorized, p.Status)
				assert.NotContains(t, w.Body.String(), "s3cret")
			}
		})
	}
}

func TestHandleHealthz(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()

	web.HandleHealthz().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))

	assert.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"status":"ok"}`, w.Body.String())
}

func TestHandleReadyz(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ready      error
		wantStatus int
		wantDetail string
	}{
		{"ready", nil, http.StatusOK, ""},
		{"sidecar down", errors.New("dial tcp 127.0.0.1:3500: connection refused"), http.StatusServiceUnavailable, "not ready: the sidecar is not reachable"},
		{"a reason of its own", apperr.Wrap(apperr.Unavailable, errors.New("connection refused"), "still seeding"), http.StatusServiceUnavailable, "not ready: still seeding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hadDeadline := false
			ready := func(ctx context.Context) error {
				_, hadDeadline = ctx.Deadline()
				return tt.ready
			}
			w := httptest.NewRecorder()

			web.HandleReadyz(discard, ready).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.True(t, hadDeadline, "the checks run with a deadline")
			if tt.ready == nil {
				assert.JSONEq(t, `{"status":"ready"}`, w.Body.String())
				return
			}
			assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
			assert.NotContains(t, w.Body.String(), "connection refused")
			assert.Contains(t, w.Body.String(), tt.wantDetail)
		})
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		handler    http.Handler
		method     string
		wantStatus int
		wantDetail string
	}{
		{"not found", web.NotFound(discard), http.MethodGet, http.StatusNotFound, "no route for /nowhere"},
		{"method not allowed", web.MethodNotAllowed(discard), http.MethodDelete, http.StatusMethodNotAllowed, "method DELETE is not allowed here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()

			tt.handler.ServeHTTP(w, httptest.NewRequest(tt.method, "/nowhere", nil))

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
			var p web.Problem
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
			assert.Equal(t, web.Problem{
				Type:     "about:blank",
				Title:    http.StatusText(tt.wantStatus),
				Status:   tt.wantStatus,
				Detail:   tt.wantDetail,
				Instance: "/nowhere",
			}, p)
		})
	}
}

func TestRecover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		panic any
	}{
		{"string", "secret state: hunter2"},
		{"error", errors.New("secret state: hunter2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := web.Recover(discard)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				panic(tt.panic)
			}))
			w := httptest.NewRecorder()

			require.NotPanics(t, func() { h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/users", nil)) })

			assert.Equal(t, http.StatusInternalServerError, w.Code)
			assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
			assert.NotContains(t, w.Body.String(), "hunter2")
			var p web.Problem
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
			assert.Equal(t, http.StatusInternalServerError, p.Status)
		})
	}
}

func TestRecoverPassesAbortHandlerOn(t *testing.T) {
	t.Parallel()
	h := web.Recover(discard)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))

	assert.PanicsWithValue(t, http.ErrAbortHandler, func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	})
}

func TestRecoverLeavesHealthyHandlersAlone(t *testing.T) {
	t.Parallel()
	h := web.Recover(discard)(web.HandleHealthz())
	w := httptest.NewRecorder()

	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))

	assert.Equal(t, http.StatusOK, w.Code)
}
