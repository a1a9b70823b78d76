package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/web"
)

// switchableSidecar answers every request with the status and content type
// it currently holds, and counts what reached it.
type switchableSidecar struct {
	mu     sync.Mutex
	status int
	ctype  string
	body   string
	calls  int
}

func (s *switchableSidecar) set(status int, ctype, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.ctype, s.body = status, ctype, body
}

func (s *switchableSidecar) reached() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *switchableSidecar) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.calls++
	status, ctype, body := s.status, s.ctype, s.body
	s.mu.Unlock()
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

const (
	daprdDown   = `{"errorCode":"ERR_DIRECT_INVOKE","message":"app is not in a healthy state"}`
	notFound    = `{"type":"about:blank","title":"Not Found","status":404,"detail":"no product p1"}`
	storeDown   = `{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"store down"}`
	productJSON = `{"id":"p1"}`
)

func getProduct(t *testing.T, h http.Handler, ctx context.Context) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/v1/products/p1", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// A breaker opens on what says the app is in trouble, and never on an
// answer a client can provoke at will.
func TestCircuitBreakerCounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		ctype       string
		body        string
		cancelled   bool // the client hangs up before the answer
		wantOpen    bool // after Failures such requests
		wantAnswers int  // the status each of them got
	}{
		{"daprd's error (app down or unhealthy) opens it", http.StatusInternalServerError, "application/json", daprdDown, false, true, http.StatusServiceUnavailable},
		{"the app's 5xx problem opens it", http.StatusServiceUnavailable, web.ProblemContentType, storeDown, false, true, http.StatusServiceUnavailable},
		{"the app's 4xx problem never opens it", http.StatusNotFound, web.ProblemContentType, notFound, false, false, http.StatusNotFound},
		{"answers never open it", http.StatusOK, "application/json", productJSON, false, false, http.StatusOK},
		{"a client hanging up is not counted", http.StatusInternalServerError, "application/json", daprdDown, true, false, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const failures = 3
			sc := &switchableSidecar{}
			sc.set(tt.status, tt.ctype, tt.body)
			h := newGatewayOpts(t, sc, staticKey{key: testKeys}, newLimiter(1000, 1000, time.Now), breakerSettings{Failures: failures, OpenFor: time.Minute})
			ctx := context.Background()
			if tt.cancelled {
				c, cancel := context.WithCancel(ctx)
				cancel()
				ctx = c
			}
			for range 2 * failures {
				w := getProduct(t, h, ctx)
				if !tt.cancelled {
					require.Equal(t, tt.wantAnswers, w.Code)
				}
			}
			if tt.cancelled { // a client that stays gets the app's answer
				sc.set(http.StatusOK, "application/json", productJSON)
			}
			before := sc.reached()
			w := getProduct(t, h, context.Background())
			if !tt.wantOpen {
				assert.Equal(t, before+1, sc.reached(), "the request reached the sidecar")
				assert.NotContains(t, w.Body.String(), "circuit open")
				return
			}
			assert.Equal(t, before, sc.reached(), "an open circuit sends nothing")
			assert.Equal(t, failures, before, "it opened after %d failures in a row", failures)
			assert.Equal(t, http.StatusServiceUnavailable, w.Code)
			assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
			assert.Equal(t, "60", w.Header().Get("Retry-After"))
			assert.Contains(t, w.Body.String(), "the catalog service is failing")
			assert.Contains(t, w.Body.String(), `"instance":"/api/v1/products/p1"`)
		})
	}
}

// Each app has its own breaker; a success resets the count of failures in
// a row; after OpenFor one request tries the app again and its answer
// closes the circuit.
func TestCircuitBreakerRecovers(t *testing.T) {
	t.Parallel()
	sc := &switchableSidecar{}
	sc.set(http.StatusInternalServerError, "application/json", daprdDown)
	h := newGatewayOpts(t, sc, staticKey{key: testKeys}, newLimiter(1000, 1000, time.Now), breakerSettings{Failures: 2, OpenFor: 50 * time.Millisecond})

	getProduct(t, h, context.Background())
	sc.set(http.StatusOK, "application/json", productJSON)
	require.Equal(t, http.StatusOK, getProduct(t, h, context.Background()).Code)
	sc.set(http.StatusInternalServerError, "application/json", daprdDown)
	getProduct(t, h, context.Background())
	assert.Equal(t, 3, sc.reached(), "one failure, a success, one failure: still closed")

	getProduct(t, h, context.Background()) // the second in a row: open
	w := getProduct(t, h, context.Background())
	require.Contains(t, w.Body.String(), "circuit open")
	assert.Equal(t, "1", w.Header().Get("Retry-After"), "rounded up to a second")

	// Another app's routes still pass.
	r := httptest.NewRequest(http.MethodPost, "/api/v1/sessions", strings.NewReader(`{}`))
	other := httptest.NewRecorder()
	h.ServeHTTP(other, r)
	assert.NotContains(t, other.Body.String(), "circuit open")

	sc.set(http.StatusOK, "application/json", productJSON)
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, http.StatusOK, getProduct(t, h, context.Background()).Code)
	}, 5*time.Second, 20*time.Millisecond, "closed again once the app answers")
}
