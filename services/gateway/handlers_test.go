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
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/sidecar"
	"github.com/daprshop/daprshop/internal/web"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeSidecar records what reaches the gateway's sidecar and answers as
// told.
type fakeSidecar struct {
	mu       sync.Mutex
	got      []*http.Request
	bodies   []string
	status   int
	ctype    string
	response string
}

func (f *fakeSidecar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.got = append(f.got, r.Clone(context.Background()))
	f.bodies = append(f.bodies, string(b))
	f.mu.Unlock()
	if f.ctype != "" {
		w.Header().Set("Content-Type", f.ctype)
	}
	w.WriteHeader(f.status)
	_, _ = io.WriteString(w, f.response)
}

func newGateway(t *testing.T, sc *fakeSidecar) http.Handler {
	t.Helper()
	srv := httptest.NewServer(sc)
	t.Cleanup(srv.Close)
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	inv, err := newInvoker(sidecar.Config{Host: host, HTTPPort: port, APIToken: "dapr-token"}, http.DefaultTransport, 5*time.Second)
	require.NoError(t, err)
	return newServer(discard, inv, func(context.Context) error { return nil })
}

func TestRoutesInvokeTheOwningApp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path, body string
		wantApp, wantPath        string
	}{
		{"register user", http.MethodPost, "/api/v1/users", `{"email":"a@example.com","name":"A"}`, "users", "/users"},
		{"list notifications", http.MethodGet, "/api/v1/users/0b6c3f4e-6a8e-4a4b-9a57-3f0c2a8b9d11/notifications", "", "notifications", "/users/0b6c3f4e-6a8e-4a4b-9a57-3f0c2a8b9d11/notifications"},
		{"encoded slash stays inside the id", http.MethodGet, "/api/v1/users/a%2F..%2Fb/notifications", "", "notifications", "/users/a%2F..%2Fb/notifications"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc := &fakeSidecar{status: http.StatusCreated, ctype: "application/json", response: `{"ok":true}`}
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Dapr-App-Id", "payments")  // a client trying to steer the call
			r.Header.Set("Dapr-Api-Token", "forged") // or to pass as a sidecar
			w := httptest.NewRecorder()

			newGateway(t, sc).ServeHTTP(w, r)

			require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
			assert.JSONEq(t, `{"ok":true}`, w.Body.String())
			require.Len(t, sc.got, 1)
			got := sc.got[0]
			assert.Equal(t, tt.wantApp, got.Header.Get("dapr-app-id"))
			assert.Equal(t, []string{"dapr-token"}, got.Header.Values("dapr-api-token"))
			assert.Equal(t, tt.wantPath, got.URL.EscapedPath())
			assert.Equal(t, tt.method, got.Method)
			assert.Equal(t, tt.body, sc.bodies[0])
		})
	}
}

func TestUpstreamFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		sidecar    *fakeSidecar // nil: the sidecar is down
		wantStatus int
		wantBody   string // a substring
	}{
		{"sidecar down", nil, http.StatusServiceUnavailable, "users service is unavailable"},
		{"daprd error (target app unreachable)", &fakeSidecar{status: http.StatusInternalServerError, ctype: "application/json", response: `{"errorCode":"ERR_DIRECT_INVOKE","message":"secret detail"}`}, http.StatusServiceUnavailable, "users service is unavailable"},
		{"app problem passes through", &fakeSidecar{status: http.StatusBadRequest, ctype: web.ProblemContentType, response: `{"status":400,"detail":"field \"email\": required"}`}, http.StatusBadRequest, `field \"email\": required`},
		{"app 503 problem passes through", &fakeSidecar{status: http.StatusServiceUnavailable, ctype: web.ProblemContentType, response: `{"status":503,"detail":"store down"}`}, http.StatusServiceUnavailable, "store down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var h http.Handler
			if tt.sidecar == nil {
				srv := httptest.NewServer(http.NotFoundHandler())
				addr := strings.TrimPrefix(srv.URL, "http://")
				srv.Close() // nothing listens there any more
				host, port, _ := strings.Cut(addr, ":")
				inv, err := newInvoker(sidecar.Config{Host: host, HTTPPort: port}, http.DefaultTransport, time.Second)
				require.NoError(t, err)
				h = newServer(discard, inv, func(context.Context) error { return errors.New("down") })
			} else {
				h = newGateway(t, tt.sidecar)
			}
			r := httptest.NewRequest(http.MethodPost, "/api/v1/users", strings.NewReader(`{}`))
			w := httptest.NewRecorder()

			h.ServeHTTP(w, r)

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
			assert.Contains(t, w.Body.String(), tt.wantBody)
			assert.NotContains(t, w.Body.String(), "secret detail")
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", web.MaxBodyBytes+1)
	tests := []struct {
		name          string
		contentLength int64 // -1: unknown (chunked)
	}{
		{"declared length over the limit", int64(len(huge))},
		{"chunked body over the limit", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc := &fakeSidecar{status: http.StatusCreated}
			r := httptest.NewRequest(http.MethodPost, "/api/v1/users", strings.NewReader(huge))
			r.ContentLength = tt.contentLength
			w := httptest.NewRecorder()

			newGateway(t, sc).ServeHTTP(w, r)

			assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
			var p web.Problem
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
			assert.Contains(t, p.Detail, "limit")
		})
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/api/v1/users", http.StatusMethodNotAllowed},
		{http.MethodGet, "/api/v1/nope", http.StatusNotFound},
		{http.MethodGet, "/healthz", http.StatusOK},
		{http.MethodGet, "/readyz", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			newGateway(t, &fakeSidecar{status: http.StatusOK}).ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
			assert.Equal(t, tt.want, w.Code, w.Body.String())
		})
	}
}
