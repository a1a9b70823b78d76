package tests

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
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
	_, attacker, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	// Under the shop's own key id, so only the signature tells it apart.
	wrongKey, _, err := authtoken.Issue(authtoken.SigningKey{ID: jwtSigningKey(t).ID, Key: attacker}, authtoken.Config{Issuer: "daprshop-users", Audience: "daprshop", TTL: time.Hour}, u.ID, time.Now())
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
	// From an address of its own on loopback: the burst empties that
	// address's bucket, not the one every other test's requests come from
	// (draining that one made the next tests' requests 429, seen in CI).
	own := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext,
	}}
	limited := 0
	retryAfter := ""
	for i := range 300 {
		req, err := http.NewRequest(http.MethodPost, gatewayURL(t)+"/api/v1/sessions", strings.NewReader(`{}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		// A forged forwarding header changes nothing: the limit is the
		// connection's address.
		req.Header.Set("X-Forwarded-For", "203.0.113."+strconv.Itoa(i%250))
		resp, err := own.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
			retryAfter = resp.Header.Get("Retry-After")
		} else {
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		}
	}
	assert.Positive(t, limited, "300 requests in a burst from one address hit the limit")
	secs, err := strconv.Atoi(retryAfter)
	require.NoError(t, err, "Retry-After %q", retryAfter)
	assert.Positive(t, secs)
	// Another address is not limited by that one's burst.
	status, _, _ := do(t, http.MethodPost, gatewayURL(t)+"/api/v1/sessions", "application/json", strings.NewReader(`{}`), nil)
	assert.Equal(t, http.StatusBadRequest, status, "127.0.0.1 keeps its own bucket")
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

// TestOnlyUsersCanSign: the gateway, the one public-facing app, reads the
// public keys and is refused the private one by its own sidecar; users,
// which signs, reads the private key and nothing else. The key set the
// gateway reads holds no private part.
func TestOnlyUsersCanSign(t *testing.T) {
	skipShort(t)
	token := map[string]string{"dapr-api-token": sys.Env()["DAPR_API_TOKEN"]}
	read := func(app, secret string) (int, map[string]string) {
		status, _, b := do(t, http.MethodGet, sidecarURL(t, app)+"/v1.0/secrets/secretstore/"+secret, "", nil, token)
		var m map[string]string
		if status == http.StatusOK {
			require.NoError(t, json.Unmarshal(b, &m))
		}
		return status, m
	}
	tests := []struct {
		app, secret string
		want        int
	}{
		{"gateway", "jwt-signing-key", http.StatusForbidden},
		{"gateway", "jwt-verification-keys", http.StatusOK},
		{"users", "jwt-signing-key", http.StatusOK},
		{"users", "jwt-verification-keys", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.app+" reads "+tt.secret, func(t *testing.T) {
			status, m := read(tt.app, tt.secret)
			require.Equal(t, tt.want, status)
			if status != http.StatusOK {
				return
			}
			if tt.secret == "jwt-verification-keys" {
				keys, err := authtoken.ParseVerifyingKeys([]byte(m[tt.secret]))
				require.NoError(t, err, "public keys only")
				assert.Contains(t, keys, jwtSigningKey(t).ID, "the signing key's public half")
			}
		})
	}
}
