package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/daprshop/daprshop/internal/sidecar"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	const shop = "https://shop.example"
	tests := []struct {
		name       string
		method     string
		origin     string
		preflight  bool
		wantStatus int
		wantAllow  string
	}{
		{"no origin: not a browser call", http.MethodGet, "", false, http.StatusOK, ""},
		{"listed origin", http.MethodGet, shop, false, http.StatusOK, shop},
		{"other origin gets no grant", http.MethodGet, "https://evil.example", false, http.StatusOK, ""},
		{"preflight from a listed origin", http.MethodOptions, shop, true, http.StatusNoContent, shop},
		{"preflight from another origin", http.MethodOptions, "https://evil.example", true, http.StatusForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inv, _ := newInvoker(sidecar.Config{Host: "127.0.0.1", HTTPPort: "1"}, http.DefaultTransport, time.Second, newBreakers(discard, breakerSettings{Failures: 5, OpenFor: time.Minute}, upstreamApps...))
			h := newServer(discard, inv, func(context.Context) error { return nil }, authenticate(discard, staticKey{key: testKeys}, tokenCfg, time.Now), newLimiter(100, 100, time.Now), []string{shop})
			r := httptest.NewRequest(tt.method, "/healthz", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.preflight {
				r = httptest.NewRequest(tt.method, "/api/v1/me", nil)
				r.Header.Set("Origin", tt.origin)
				r.Header.Set("Access-Control-Request-Method", http.MethodGet)
			}
			w := httptest.NewRecorder()

			h.ServeHTTP(w, r)

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, tt.wantAllow, w.Header().Get("Access-Control-Allow-Origin"))
			assert.NotEmpty(t, w.Header().Get("X-Request-Id"))
			if tt.wantStatus == http.StatusNoContent {
				assert.Contains(t, w.Header().Get("Access-Control-Allow-Headers"), "Authorization")
			}
		})
	}
	assert.Equal(t, []string{"https://a.example", "http://b.example:8080"}, parseOrigins(" https://a.example/ , http://b.example:8080,,"))
}
