package sidecar

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
)

func TestRequireTokens(t *testing.T) {
	t.Parallel()
	both := []string{DaprTokenVar, AppTokenVar}
	tests := []struct {
		name     string
		env      map[string]string
		need     []string
		wantErr  []string // substrings; none: no error
		wantWarn bool
	}{
		{name: "both set", env: map[string]string{DaprTokenVar: "d", AppTokenVar: "a"}, need: both},
		{name: "only the one needed is set", env: map[string]string{DaprTokenVar: "d"}, need: []string{DaprTokenVar}},
		{
			name: "app token missing", env: map[string]string{DaprTokenVar: "d"}, need: both,
			wantErr: []string{"APP_API_TOKEN not set", "make infra", InsecureVar + "=1"},
		},
		{
			name: "both missing are both named", env: map[string]string{}, need: both,
			wantErr: []string{"DAPR_API_TOKEN and APP_API_TOKEN not set"},
		},
		{name: "opted out", env: map[string]string{InsecureVar: "1"}, need: both, wantWarn: true},
		{name: "opted out with true", env: map[string]string{InsecureVar: "true"}, need: both, wantWarn: true},
		{
			name: "opted out explicitly not", env: map[string]string{InsecureVar: "0"}, need: both,
			wantErr: []string{"DAPR_API_TOKEN and APP_API_TOKEN not set"},
		},
		{name: "an opt-out that means nothing is refused", env: map[string]string{InsecureVar: "yes please", DaprTokenVar: "d", AppTokenVar: "a"}, need: both, wantErr: []string{InsecureVar + ": want 1 or 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&log, nil))

			err := RequireTokens(context.Background(), func(k string) string { return tt.env[k] }, logger, tt.need...)

			if len(tt.wantErr) > 0 {
				for _, want := range tt.wantErr {
					assert.ErrorContains(t, err, want)
				}
			} else {
				assert.NoError(t, err)
			}
			if tt.wantWarn {
				assert.Contains(t, log.String(), `"level":"WARN"`)
				assert.Contains(t, log.String(), InsecureVar+" is set")
			} else {
				assert.Empty(t, log.String(), "no warning without the opt-out")
			}
		})
	}
}

// A sidecar that serves its API without the token (a daprd started
// without DAPR_API_TOKEN) keeps its app not ready, saying why; one that
// refuses the call is checked once. (A real daprd with the token is in
// TestDialSendsTheToken.)
func TestReadyWantsAGuardedSidecar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		token       string // the app's
		metadata    int    // the sidecar's answer to /v1.0/metadata without a token
		wantErr     string
		wantCalls   int // metadata calls over two checks
		wantMessage bool
	}{
		{name: "guarded", token: "t", metadata: http.StatusUnauthorized, wantCalls: 1},
		{name: "open", token: "t", metadata: http.StatusOK, wantErr: "the sidecar answers without DAPR_API_TOKEN", wantCalls: 2, wantMessage: true},
		{name: "something else", token: "t", metadata: http.StatusInternalServerError, wantErr: "status 500", wantCalls: 2},
		{name: "the app opted out of tokens", token: "", metadata: http.StatusOK, wantCalls: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/v1.0/healthz/outbound":
					w.WriteHeader(http.StatusNoContent)
				case "/v1.0/metadata":
					calls.Add(1)
					assert.Empty(t, r.Header.Get(TokenHeader), "asked without the token")
					w.WriteHeader(tt.metadata)
				default:
					w.WriteHeader(http.StatusNotFound)
				}
			}))
			defer srv.Close()
			u, err := url.Parse(srv.URL)
			require.NoError(t, err)
			ch := NewChecker(Config{Host: u.Hostname(), HTTPPort: u.Port(), APIToken: tt.token}, srv.Client())

			for range 2 {
				err = ch.Ready(context.Background())
				if tt.wantErr == "" {
					assert.NoError(t, err)
				} else {
					assert.ErrorContains(t, err, tt.wantErr)
				}
			}
			assert.Equal(t, int32(tt.wantCalls), calls.Load())
			var ae *apperr.Error
			assert.Equal(t, tt.wantMessage, errors.As(err, &ae), "a reason /readyz shows")
		})
	}
}
