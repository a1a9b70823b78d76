package tests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/authtoken"
)

func TestMeShowsTheCaller(t *testing.T) {
	skipShort(t)
	u := registerUser(t, "Grace")
	status, _, b := do(t, http.MethodGet, gatewayURL(t)+"/api/v1/me", "", nil, map[string]string{"Authorization": "Bearer " + u.Token})
	require.Equal(t, http.StatusOK, status, "%s", b)
	var me user
	require.NoError(t, json.Unmarshal(b, &me))
	assert.Equal(t, u.ID, me.ID)
	assert.Equal(t, u.Email, me.Email)
	assert.Equal(t, "Grace", me.Name)
	assert.NotContains(t, string(b), "password")
}

func TestEmailBelongsToOneAccount(t *testing.T) {
	skipShort(t)
	u := registerUser(t, "Unique")
	body := fmt.Sprintf(`{"email":%q,"name":"Copy","password":"another long password"}`, strings.ToUpper(u.Email))
	status, _, b := do(t, http.MethodPost, gatewayURL(t)+"/api/v1/users", "application/json", strings.NewReader(body), nil)
	assert.Equal(t, http.StatusConflict, status, "%s", b)
	assert.Contains(t, string(b), "already registered")
}

func TestWrongCredentialsGetOneAnswer(t *testing.T) {
	skipShort(t)
	u := registerUser(t, "Creds")
	var details []string
	for _, body := range []string{
		fmt.Sprintf(`{"email":%q,"password":"not the right password"}`, u.Email),
		fmt.Sprintf(`{"email":"nobody-%s@example.com","password":%q}`, uuid.NewString()[:8], testPassword),
	} {
		status, _, b := do(t, http.MethodPost, gatewayURL(t)+"/api/v1/sessions", "application/json", strings.NewReader(body), nil)
		require.Equal(t, http.StatusUnauthorized, status, "%s", b)
		var p problem
		require.NoError(t, json.Unmarshal(b, &p))
		details = append(details, p.Detail)
	}
	assert.Equal(t, details[0], details[1], "unknown email and wrong password look the same")
}

func TestPrivateRoutesRefuseBadTokens(t *testing.T) {
	skipShort(t)
	u := registerUser(t, "Victim")
	wrongKey, _, err := authtoken.Issue([]byte("an-attacker-key-an-attacker-key-!!"), authtoken.Config{Issuer: "daprshop-users", Audience: "daprshop", TTL: time.Hour}, u.ID, time.Now())
	require.NoError(t, err)
	parts := strings.Split(u.Token, ".")
	require.Len(t, parts, 3)
	expired := signedTokenAt(t, u.ID, time.Now().Add(-2*time.Hour)) // an hour-long token, expired an hour ago
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	tests := []struct {
		name, auth string
	}{
		{"no token", ""},
		{"garbage", "Bearer garbage"},
		{"signed with another key", "Bearer " + wrongKey},
		{"expired", "Bearer " + expired},
		{"alg none", "Bearer " + none},
		{"signature stripped", "Bearer " + parts[0] + "." + parts[1] + "."},
		{"not a bearer scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte(u.Email+":"+testPassword))},
	}
	for _, path := range []string{"/api/v1/me", "/api/v1/notifications", "/api/v1/wallet", "/api/v1/orders", "/api/v1/orders/" + uuid.NewString()} {
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				header := map[string]string{"X-User-Id": u.ID}
				if tt.auth != "" {
					header["Authorization"] = tt.auth
				}
				status, hdr, b := do(t, http.MethodGet, gatewayURL(t)+path, "", nil, header)
				assert.Equal(t, http.StatusUnauthorized, status, "%s", b)
				assert.Contains(t, hdr.Get("WWW-Authenticate"), "Bearer")
				assert.NotContains(t, string(b), u.Email)
			})
		}
	}
}

// Public routes are limited per client address; X-Forwarded-For, which any
// client can write, does not open a new bucket.
func TestPublicRoutesAreRateLimited(t *testing.T) {
	skipShort(t)
	limited := 0
	retryAfter := ""
	for i := range 300 {
		status, hdr, _ := do(t, http.MethodPost, gatewayURL(t)+"/api/v1/sessions", "application/json", strings.NewReader(`{}`),
			map[string]string{"X-Forwarded-For": "203.0.113." + strconv.Itoa(i%250)})
		if status == http.StatusTooManyRequests {
			limited++
			retryAfter = hdr.Get("Retry-After")
		} else {
			assert.Equal(t, http.StatusBadRequest, status)
		}
	}
	assert.Positive(t, limited, "300 requests in a burst from one address hit the limit")
	secs, err := strconv.Atoi(retryAfter)
	require.NoError(t, err, "Retry-After %q", retryAfter)
	assert.Positive(t, secs)
	// Let the bucket refill so later tests start from a clean slate.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		status, _, _ := do(t, http.MethodPost, gatewayURL(t)+"/api/v1/sessions", "application/json", strings.NewReader(`{}`), nil)
		assert.NotEqual(c, http.StatusTooManyRequests, status)
	}, 30*time.Second, 500*time.Millisecond)
}

// A request id chosen by the client comes back, and reaches the service
// behind the gateway: its log line for the request carries it.
func TestRequestIDTravelsThrough(t *testing.T) {
	skipShort(t)
	id := "e2e-" + uuid.NewString()[:8]
	body := fmt.Sprintf(`{"email":"rid-%s@example.com","name":"Rid","password":%q}`, uuid.NewString()[:8], testPassword)
	status, hdr, b := do(t, http.MethodPost, gatewayURL(t)+"/api/v1/users", "application/json", strings.NewReader(body), map[string]string{"X-Request-Id": id})
	require.Equal(t, http.StatusCreated, status, "%s", b)
	assert.Equal(t, id, hdr.Get("X-Request-Id"))
	want := `"msg":"user registered","service":"users"`
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		log, err := os.ReadFile(filepath.Join("logs", "system.log"))
		require.NoError(c, err)
		found := false
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, want) && strings.Contains(line, `"request_id":"`+id+`"`) {
				found = true
			}
		}
		assert.True(c, found, "a users log line %s with request_id %s", want, id)
	}, 10*time.Second, 100*time.Millisecond)
}
