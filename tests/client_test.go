package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/authtoken"
	"github.com/daprshop/daprshop/internal/shopclient"
)

var client = &http.Client{Timeout: 15 * time.Second}

// shop is the client of the public API (through the gateway) and auditor
// the client of the apps' internal read routes, both of the running
// system: the ones the benchmark uses too.
var (
	shop    *shopclient.Client
	auditor *shopclient.Apps
)

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: needs the running system")
	}
}

// appURL is the base URL of an app's own port, from the run file.
func appURL(t *testing.T, appID string) string {
	t.Helper()
	a, ok := sys.App(appID)
	require.True(t, ok, "app %s in the run file", appID)
	return fmt.Sprintf("http://127.0.0.1:%d", a.AppPort)
}

// sidecarURL is the base URL of an app's daprd HTTP API.
func sidecarURL(t *testing.T, appID string) string {
	t.Helper()
	a, ok := sys.App(appID)
	require.True(t, ok, "app %s in the run file", appID)
	return fmt.Sprintf("http://127.0.0.1:%d", a.HTTPPort)
}

func gatewayURL(t *testing.T) string { return appURL(t, "gateway") }

// do sends a request and returns the status, headers and body.
func do(t *testing.T, method, url, contentType string, body io.Reader, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, body)
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

type user struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"-"`
	Token    string `json:"-"` // from logging in
}

const testPassword = "correct horse battery staple"

type notification = shopclient.Notification

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field  string `json:"field"`
		Detail string `json:"detail"`
	} `json:"errors"`
}

// registerUser registers a user with a unique address through the gateway
// and logs in.
func registerUser(t *testing.T, name string) user {
	t.Helper()
	email := fmt.Sprintf("%s-%s@Example.com", strings.ToLower(name), uuid.NewString()[:8])
	resp, err := shop.Do(context.Background(), shopclient.Request{Method: http.MethodPost, Path: "/api/v1/users",
		Body: map[string]string{"email": email, "name": name, "password": testPassword}})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.Status, "register: %s", resp.Body)
	var u user
	require.NoError(t, json.Unmarshal(resp.Body, &u))
	require.NoError(t, uuid.Validate(u.ID))
	assert.Equal(t, strings.ToLower(email), u.Email)
	assert.NotContains(t, string(resp.Body), "password")
	u.Password = testPassword
	u.Token = login(t, email, testPassword)
	return u
}

// registerUserEventually registers a user, retrying while the system
// settles after a restart (a sidecar that has just come back may refuse a
// few calls until it sees its app healthy again).
func registerUserEventually(t *testing.T, name string) user {
	t.Helper()
	var u user
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		email := fmt.Sprintf("%s-%s@example.com", strings.ToLower(name), uuid.NewString()[:8])
		got, err := shop.Register(context.Background(), email, name, testPassword)
		if assert.NoError(c, err) {
			u = user{ID: got.ID, Email: got.Email, Name: got.Name}
		}
	}, 60*time.Second, 250*time.Millisecond)
	u.Password = testPassword
	u.Token = login(t, u.Email, testPassword)
	return u
}

// login returns an access token.
func login(t *testing.T, email, password string) string {
	t.Helper()
	sess, err := shop.Login(context.Background(), email, password)
	require.NoError(t, err)
	assert.True(t, sess.ExpiresAt.After(time.Now()))
	return sess.Token
}

// inbox reads the caller's notifications through the gateway.
func inbox(t require.TestingT, token string) []notification {
	items, err := shop.Inbox(context.Background(), token)
	require.NoError(t, err)
	return items
}

// signedToken signs a token for any user id with the local profile's key,
// read from the secret store through a sidecar, as the users service does.
func signedToken(t *testing.T, userID string) string {
	t.Helper()
	return signedTokenAt(t, userID, time.Now())
}

// signedTokenAt signs an hour-long token issued at the given time.
func signedTokenAt(t *testing.T, userID string, issued time.Time) string {
	t.Helper()
	status, _, b := do(t, http.MethodGet, sidecarURL(t, "users")+"/v1.0/secrets/secretstore/jwt-signing-key", "", nil,
		map[string]string{"dapr-api-token": sys.Env()["DAPR_API_TOKEN"]})
	require.Equal(t, http.StatusOK, status, "%s", b)
	var secret map[string]string
	require.NoError(t, json.Unmarshal(b, &secret))
	key, err := authtoken.ParseSigningKey([]byte(secret["jwt-signing-key"]))
	require.NoError(t, err)
	tok, _, err := authtoken.Issue(key, authtoken.Config{Issuer: "daprshop-users", Audience: "daprshop", TTL: time.Hour}, userID, issued)
	require.NoError(t, err)
	return tok
}

// awaitWelcome waits until the user's inbox holds exactly one welcome.
func awaitWelcome(t *testing.T, u user) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		items := inbox(c, u.Token)
		if assert.Len(c, items, 1) {
			assert.Equal(c, "welcome", items[0].Kind)
			assert.Contains(c, items[0].Message, u.Name)
		}
	}, 30*time.Second, 100*time.Millisecond, "welcome notification for user %s", u.ID)
}

// publish publishes a CloudEvent through an app's sidecar, as the app
// would, keeping the event id we choose.
func publish(t *testing.T, viaApp, topic string, event map[string]any) {
	t.Helper()
	publishWith(t, viaApp, topic, "", event)
}

// publishWith is publish with a query string for the sidecar
// ("?metadata.partitionKey=...").
func publishWith(t *testing.T, viaApp, topic, query string, event map[string]any) {
	t.Helper()
	b, err := json.Marshal(event)
	require.NoError(t, err)
	status, _, body := do(t, http.MethodPost, sidecarURL(t, viaApp)+"/v1.0/publish/pubsub/"+topic+query,
		"application/cloudevents+json", bytes.NewReader(b), map[string]string{"dapr-api-token": sys.Env()["DAPR_API_TOKEN"]})
	require.Equal(t, http.StatusNoContent, status, "publish: %s", body)
}
