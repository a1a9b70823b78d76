package tests

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/authtoken"
)

// Security class: rate limits hold against spoofed addresses.

// secRateLimits tries to escape the gateway's rate limits by rotating
// client-address headers, or tokens on a private route.
func secRateLimits(t *testing.T, env *secEnv) {
	tally, gw, mallory := env.tally, env.gw, env.mallory
	app, found := sys.App("gateway")
	require.True(t, found)
	burst, err := strconv.Atoi(app.Env["RATE_LIMIT_BURST"])
	require.NoError(t, err)
	rps, err := strconv.ParseFloat(app.Env["RATE_LIMIT_RPS"], 64)
	require.NoError(t, err)
	// burst spends the bucket, then: at most what it refilled meanwhile.
	within := func(t *testing.T, send func(i int) secAnswer, want int) {
		start := time.Now()
		passed, limited := 0, secAnswer{}
		for i := range 3 * burst {
			a := send(i)
			if a.status == http.StatusTooManyRequests {
				limited = a
				break
			}
			assert.Equal(t, want, a.status, "%s", a.body)
			passed++
		}
		require.Equal(t, http.StatusTooManyRequests, limited.status, "no 429 after %d requests", passed)
		t.Logf("%d requests let through in %s, then 429 with Retry-After %s", passed, time.Since(start).Round(time.Millisecond), limited.header.Get("Retry-After"))
		assertProblem(t, http.StatusTooManyRequests, limited)
		secs, err := strconv.Atoi(limited.header.Get("Retry-After"))
		assert.NoError(t, err, "Retry-After %q", limited.header.Get("Retry-After"))
		assert.Positive(t, secs)
		assert.LessOrEqual(t, passed, burst+int(rps*time.Since(start).Seconds())+1, "requests let through")
	}
	ip := func(i int) string { return fmt.Sprintf("203.0.%d.%d", i/250, 1+i%250) }
	spoofs := []struct {
		name   string
		header func(i int) map[string]string
	}{
		{"X-Forwarded-For", func(i int) map[string]string { return map[string]string{"X-Forwarded-For": ip(i)} }},
		{"X-Forwarded-For, a chain", func(i int) map[string]string { return map[string]string{"X-Forwarded-For": ip(i) + ", 127.0.0.1"} }},
		{"Forwarded", func(i int) map[string]string { return map[string]string{"Forwarded": "for=" + ip(i) + ";proto=https"} }},
		{"X-Real-IP", func(i int) map[string]string { return map[string]string{"X-Real-IP": ip(i)} }},
		{"every client-address header at once", func(i int) map[string]string {
			return map[string]string{
				"X-Forwarded-For": ip(i), "Forwarded": "for=" + ip(i), "X-Real-IP": ip(i), "True-Client-IP": ip(i),
				"X-Client-IP": ip(i), "CF-Connecting-IP": ip(i), "X-Cluster-Client-IP": ip(i),
			}
		}},
	}
	for _, sp := range spoofs {
		tally.attempt(t, "public route, rotating "+sp.name, func(t *testing.T) {
			within(t, func(i int) secAnswer {
				h := sp.header(i)
				h["Content-Type"] = "application/json"
				return secSend(t, http.MethodPost, gw+"/api/v1/sessions", h, strings.NewReader(`{}`))
			}, http.StatusBadRequest)
		})
	}
	// Per user, a fresh token for each request changes nothing either.
	key := jwtSigningKey(t)
	tally.attempt(t, "private route, a fresh token for each request", func(t *testing.T) {
		within(t, func(i int) secAnswer {
			now := time.Now()
			tok, _, err := authtoken.Issue(key, authtoken.Config{Issuer: "daprshop-users", Audience: "daprshop", TTL: time.Hour}, mallory.ID, now)
			require.NoError(t, err)
			return secSend(t, http.MethodGet, gw+"/api/v1/me", map[string]string{"Authorization": "Bearer " + tok, "X-Forwarded-For": ip(i)}, nil)
		}, http.StatusOK)
	})
	// Leave this address's bucket usable for the tests that follow.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		a := secSend(t, http.MethodPost, gw+"/api/v1/sessions", secJSON(""), strings.NewReader(`{}`))
		assert.NotEqual(c, http.StatusTooManyRequests, a.status)
	}, 30*time.Second, 250*time.Millisecond)
}
