package main

import (
	"context"
	"crypto/ed25519"
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

	"github.com/daprshop/daprshop/internal/authtoken"
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

var (
	testKey  = testSigningKey("2026-12", "gateway-test-seed-gateway-test-!")
	testKeys = jwks(testKey)
	tokenCfg = authtoken.Config{Issuer: "daprshop-users", Audience: "daprshop", TTL: time.Hour}
	adaID    = "0b6c3f4e-6a8e-4a4b-9a57-3f0c2a8b9d11"
	orderID  = "5f1e2d3c-4b5a-4697-8877-665544332211"
)

// testSigningKey is a fixed Ed25519 key: users' side of a test token.
func testSigningKey(id, seed string) authtoken.SigningKey {
	return authtoken.SigningKey{ID: id, Key: ed25519.NewKeyFromSeed([]byte(seed))}
}

// jwks is the JWK Set of the keys' public halves: what the gateway reads.
func jwks(keys ...authtoken.SigningKey) []byte {
	var set authtoken.KeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, k.PublicJWK())
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	return b
}

// staticKey serves a fixed key set; refreshed serves what Refresh reads
// (a rollover the gateway has not seen yet), when set.
type staticKey struct {
	key       []byte
	err       error
	refreshed []byte
}

func (k staticKey) Get(context.Context) ([]byte, error) { return k.key, k.err }

func (k staticKey) Refresh(ctx context.Context) ([]byte, error) {
	if k.refreshed != nil {
		return k.refreshed, nil
	}
	return k.Get(ctx)
}

func tokenFor(t *testing.T, sub string) string {
	t.Helper()
	tok, _, err := authtoken.Issue(testKey, tokenCfg, sub, time.Now())
	require.NoError(t, err)
	return tok
}

// newGatewayWith builds the gateway in front of a fake sidecar.
func newGatewayWith(t *testing.T, sc http.Handler, keys keySource, lim *limiter) http.Handler {
	t.Helper()
	return newGatewayOpts(t, sc, keys, lim, breakerSettings{Failures: 5, OpenFor: time.Minute})
}

// newGatewayOpts builds the gateway in front of a fake sidecar, with its
// circuit breakers set as bs.
func newGatewayOpts(t *testing.T, sc http.Handler, keys keySource, lim *limiter, bs breakerSettings) http.Handler {
	t.Helper()
	srv := httptest.NewServer(sc)
	t.Cleanup(srv.Close)
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	inv, err := newInvoker(sidecar.Config{Host: host, HTTPPort: port, APIToken: "dapr-token"}, http.DefaultTransport, 5*time.Second, newBreakers(discard, bs, upstreamApps...))
	require.NoError(t, err)
	authn := authenticate(discard, keys, tokenCfg, time.Now)
	return newServer(discard, inv, func(context.Context) error { return nil }, authn, lim, nil)
}

func newGateway(t *testing.T, sc *fakeSidecar) http.Handler {
	t.Helper()
	return newGatewayWith(t, sc, staticKey{key: testKeys}, newLimiter(1000, 1000, time.Now))
}

// An id with any other character than an id may hold is a 404 problem at
// the gateway and reaches no sidecar: daprd answers '#', '?' and NUL in a
// method name with a 500, and a '%' (double encoding) would be decoded
// again by the service's router, which cleans the path and redirects.
func TestOddIDsStopAtTheGateway(t *testing.T) {
	t.Parallel()
	for _, path := range []string{
		"/api/v1/products/a%20b", "/api/v1/products/x%23", "/api/v1/products/x%3F", "/api/v1/products/x%00",
		"/api/v1/products/..%252Fstock", "/api/v1/products/x.y",
		"/api/v1/orders/" + orderID + "%23", "/api/v1/orders/" + orderID + "%3Fx", "/api/v1/orders/" + orderID + "%00",
		"/api/v1/orders/..%252F..%252F" + adaID + "%252Forders",
	} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			sc := &fakeSidecar{status: http.StatusOK, ctype: "application/json", response: `{}`}
			r := httptest.NewRequest(http.MethodGet, path, nil)
			r.Header.Set("Authorization", "Bearer "+tokenFor(t, adaID))
			w := httptest.NewRecorder()

			newGateway(t, sc).ServeHTTP(w, r)

			assert.Equal(t, http.StatusNotFound, w.Code, w.Body.String())
			assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
			assert.Empty(t, sc.got, "nothing reached the sidecar")
		})
	}
}

func TestRoutesInvokeTheOwningApp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path, body string
		token                    string
		wantApp, wantPath        string
		wantUser                 string
	}{
		{"register user", http.MethodPost, "/api/v1/users", `{"email":"a@example.com"}`, "", "users", "/users", ""},
		{"log in", http.MethodPost, "/api/v1/sessions", `{"email":"a@example.com"}`, "", "users", "/sessions", ""},
		{"me", http.MethodGet, "/api/v1/me", "", tokenFor(t, adaID), "users", "/users/" + adaID, adaID},
		{"my notifications", http.MethodGet, "/api/v1/notifications", "", tokenFor(t, adaID), "notifications", "/users/" + adaID + "/notifications", adaID},
		{"my wallet", http.MethodGet, "/api/v1/wallet", "", tokenFor(t, adaID), "payments", "/users/" + adaID + "/wallet", adaID},
		{"products", http.MethodGet, "/api/v1/products?limit=5&cursor=djE6YQ", "", "", "catalog", "/products", ""},
		{"a product", http.MethodGet, "/api/v1/products/espresso-beans-1kg", "", "", "catalog", "/products/espresso-beans-1kg", ""},
		{"a product, every character an id may hold", http.MethodGet, "/api/v1/products/AZ_az-09", "", "", "catalog", "/products/AZ_az-09", ""},
		{"place an order", http.MethodPost, "/api/v1/orders", `{"items":[]}`, tokenFor(t, adaID), "orders", "/users/" + adaID + "/orders", adaID},
		{"my orders", http.MethodGet, "/api/v1/orders?limit=2", "", tokenFor(t, adaID), "orders", "/users/" + adaID + "/orders", adaID},
		{"cancel one of my orders", http.MethodDelete, "/api/v1/orders/" + orderID, "", tokenFor(t, adaID), "orders", "/users/" + adaID + "/orders/" + orderID, adaID},
		{"one of my orders", http.MethodGet, "/api/v1/orders/" + orderID, "", tokenFor(t, adaID), "orders", "/users/" + adaID + "/orders/" + orderID, adaID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc := &fakeSidecar{status: http.StatusCreated, ctype: "application/json", response: `{"ok":true}`}
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Dapr-App-Id", "payments")  // a client trying to steer the call
			r.Header.Set("Dapr-Api-Token", "forged") // or to pass as a sidecar
			r.Header.Set(userHeader, "someone-else") // or as another user
			r.Header.Set("Idempotency-Key", "key-1")
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			w := httptest.NewRecorder()

			newGateway(t, sc).ServeHTTP(w, r)

			require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
			assert.JSONEq(t, `{"ok":true}`, w.Body.String())
			require.Len(t, sc.got, 1)
			got := sc.got[0]
			assert.Equal(t, tt.wantApp, got.Header.Get("dapr-app-id"))
			assert.Equal(t, []string{"dapr-token"}, got.Header.Values("dapr-api-token"))
			assert.Equal(t, tt.wantPath, got.URL.EscapedPath())
			assert.Equal(t, tt.wantUser, got.Header.Get(userHeader), "the user comes from the token only")
			assert.Equal(t, tt.method, got.Method)
			assert.Equal(t, httptest.NewRequest(tt.method, tt.path, nil).URL.RawQuery, got.URL.RawQuery, "the query passes through")
			assert.Equal(t, "key-1", got.Header.Get("Idempotency-Key"))
			assert.Equal(t, tt.body, sc.bodies[0])
		})
	}
}

func TestPrivateRoutesNeedAValidToken(t *testing.T) {
	t.Parallel()
	forged, _, err := authtoken.Issue(testSigningKey(testKey.ID, "another-seed-another-seed-other!"), tokenCfg, adaID, time.Now())
	require.NoError(t, err)
	next := testSigningKey("2027-01", "the-next-seed-the-next-seed-next")
	rolled, _, err := authtoken.Issue(next, tokenCfg, adaID, time.Now())
	require.NoError(t, err)
	expired, _, err := authtoken.Issue(testKey, tokenCfg, adaID, time.Now().Add(-3*time.Hour))
	require.NoError(t, err)
	notAUser, _, err := authtoken.Issue(testKey, tokenCfg, "../admin", time.Now())
	require.NoError(t, err)
	tests := []struct {
		name   string
		header string
		keys   keySource
		want   int
	}{
		{"no header", "", staticKey{key: testKeys}, http.StatusUnauthorized},
		{"not bearer", "Basic YWRhOnB3", staticKey{key: testKeys}, http.StatusUnauthorized},
		{"empty bearer", "Bearer ", staticKey{key: testKeys}, http.StatusUnauthorized},
		{"forged", "Bearer " + forged, staticKey{key: testKeys}, http.StatusUnauthorized},
		{"expired", "Bearer " + expired, staticKey{key: testKeys}, http.StatusUnauthorized},
		{"subject not a user id", "Bearer " + notAUser, staticKey{key: testKeys}, http.StatusUnauthorized},
		{"key unavailable", "Bearer " + tokenFor(t, adaID), staticKey{err: errors.New("secret store down")}, http.StatusServiceUnavailable},
		{"valid", "Bearer " + tokenFor(t, adaID), staticKey{key: testKeys}, http.StatusOK},
		{"valid, lower-case scheme", "bearer " + tokenFor(t, adaID), staticKey{key: testKeys}, http.StatusOK},
		{"signed by a key the gateway does not hold", "Bearer " + rolled, staticKey{key: testKeys}, http.StatusUnauthorized},
		{"signed by a new key the store now has: read again", "Bearer " + rolled, staticKey{key: testKeys, refreshed: jwks(testKey, next)}, http.StatusOK},
		{"a key set that is not one", "Bearer " + tokenFor(t, adaID), staticKey{key: []byte("an HS256 secret of old")}, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc := &fakeSidecar{status: http.StatusOK, ctype: "application/json", response: `{}`}
			r := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			w := httptest.NewRecorder()

			newGatewayWith(t, sc, tt.keys, newLimiter(1000, 1000, time.Now)).ServeHTTP(w, r)

			assert.Equal(t, tt.want, w.Code, w.Body.String())
			if tt.want == http.StatusUnauthorized {
				assert.Contains(t, w.Header().Get("WWW-Authenticate"), "Bearer")
				assert.Empty(t, sc.got, "nothing reached the service")
			}
			assert.NotContains(t, w.Body.String(), "secret store down")
		})
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	sc := &fakeSidecar{status: http.StatusOK, ctype: "application/json", response: `{}`}
	h := newGatewayWith(t, sc, staticKey{key: testKeys}, newLimiter(1, 2, now))
	send := func(path, token, remote, xff string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{}`))
		if path == "/api/v1/me" {
			r = httptest.NewRequest(http.MethodGet, path, nil)
		}
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	// A client address gets its burst on public routes, whatever it writes
	// in X-Forwarded-For.
	assert.Equal(t, http.StatusOK, send("/api/v1/sessions", "", "192.0.2.1:1000", "10.0.0.1").Code)
	assert.Equal(t, http.StatusOK, send("/api/v1/sessions", "", "192.0.2.1:1001", "10.0.0.2").Code)
	w := send("/api/v1/sessions", "", "192.0.2.1:1002", "10.0.0.3")
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
	assert.Equal(t, web.ProblemContentType, w.Header().Get("Content-Type"))
	// Another address has its own bucket.
	assert.Equal(t, http.StatusOK, send("/api/v1/sessions", "", "192.0.2.2:1000", "").Code)
	// A user has a bucket of their own, from any address.
	tok := tokenFor(t, adaID)
	assert.Equal(t, http.StatusOK, send("/api/v1/me", tok, "192.0.2.1:1003", "").Code)
	assert.Equal(t, http.StatusOK, send("/api/v1/me", tok, "198.51.100.7:1", "").Code)
	assert.Equal(t, http.StatusTooManyRequests, send("/api/v1/me", tok, "198.51.100.8:1", "").Code)
	// Tokens come back with time.
	clock = clock.Add(time.Second)
	assert.Equal(t, http.StatusOK, send("/api/v1/me", tok, "198.51.100.8:1", "").Code)
}

func TestLimiterForgetsIdleClients(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(1, 1, func() time.Time { return clock })
	for i := range 100 {
		ok, _ := l.allow(fmt.Sprintf("ip:%d", i))
		require.True(t, ok)
	}
	clock = clock.Add(2 * idleTTL)
	ok, _ := l.allow("ip:new")
	require.True(t, ok)
	assert.Len(t, l.buckets, 1, "idle buckets dropped")
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
		{"app problem passes through", &fakeSidecar{status: http.StatusBadRequest, ctype: web.ProblemContentType, response: `{"status":400,"detail":"field \"email\": required","instance":"/internal/users"}`}, http.StatusBadRequest, `field \"email\": required`},
		{"app problem shows the public path", &fakeSidecar{status: http.StatusNotFound, ctype: web.ProblemContentType, response: `{"type":"about:blank","title":"Not Found","status":404,"instance":"/internal/users"}`}, http.StatusNotFound, `"instance":"/api/v1/users"`},
		{"problem of another status", &fakeSidecar{status: http.StatusNotFound, ctype: web.ProblemContentType, response: `{"status":200,"detail":"secret detail"}`}, http.StatusServiceUnavailable, "users service is unavailable"},
		{"problem not JSON", &fakeSidecar{status: http.StatusBadRequest, ctype: web.ProblemContentType, response: `secret detail`}, http.StatusServiceUnavailable, "users service is unavailable"},
		{"app 503 problem passes through", &fakeSidecar{status: http.StatusServiceUnavailable, ctype: web.ProblemContentType, response: `{"status":503,"detail":"store down"}`}, http.StatusServiceUnavailable, "store down"},
		{"success without a body", &fakeSidecar{status: http.StatusAccepted, ctype: "application/json"}, http.StatusServiceUnavailable, "users service is unavailable"},
		{"success with a cut body", &fakeSidecar{status: http.StatusCreated, ctype: "application/json", response: `{"id":"secret detail`}, http.StatusServiceUnavailable, "users service is unavailable"},
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
				inv, err := newInvoker(sidecar.Config{Host: host, HTTPPort: port}, http.DefaultTransport, time.Second, newBreakers(discard, breakerSettings{Failures: 1000, OpenFor: time.Minute}, upstreamApps...))
				require.NoError(t, err)
				h = newServer(discard, inv, func(context.Context) error { return errors.New("down") }, authenticate(discard, staticKey{key: testKeys}, tokenCfg, time.Now), newLimiter(1000, 1000, time.Now), nil)
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
			assert.NotContains(t, w.Body.String(), "/internal/", "no internal path")
			assert.Contains(t, w.Body.String(), `"instance":"/api/v1/users"`, "the path the client asked for")
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
		{http.MethodGet, "/api/v1/users/" + adaID + "/notifications", http.StatusNotFound},
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
