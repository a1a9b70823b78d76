package tests

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/authtoken"
	"github.com/daprshop/daprshop/internal/web"
)

// Helpers of the security scenario: sending hostile requests as written,
// reading their answers, and assembling tokens by hand.

// secClient never follows redirects: a 301 is an answer to assert, and
// following it would hide where it points.
var secClient = &http.Client{
	Timeout:       15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// secAnswer is what a hostile request got back.
type secAnswer struct {
	status int
	header http.Header
	body   string
}

// secSend sends a request exactly as written: the URL keeps its escapes
// (%2F, %23, ...) and the method its letter case.
func secSend(t *testing.T, method, url string, header map[string]string, body io.Reader) secAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, body)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := secClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return secAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// secJSON is the header of a JSON request, with a bearer token when not
// empty.
func secJSON(token string) map[string]string {
	h := map[string]string{"Content-Type": "application/json"}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return h
}

// assertProblem asserts an RFC 9457 problem with status want, and returns
// the names of the fields it lists.
func assertProblem(t *testing.T, want int, a secAnswer) []string {
	t.Helper()
	assert.Equal(t, want, a.status, "%s", a.body)
	assert.Equal(t, web.ProblemContentType, a.header.Get("Content-Type"), "%s", a.body)
	var p problem
	if !assert.NoError(t, json.Unmarshal([]byte(a.body), &p), "%s", a.body) {
		return nil
	}
	assert.Equal(t, want, p.Status, "%s", a.body)
	var fields []string
	for _, e := range p.Errors {
		fields = append(fields, e.Field)
	}
	return fields
}

// secPlaceOrder posts an order through the gateway as u, with key as its
// Idempotency-Key when not empty.
func secPlaceOrder(t *testing.T, u user, key, body string) secAnswer {
	t.Helper()
	h := secJSON(u.Token)
	if key != "" {
		h["Idempotency-Key"] = key
	}
	return secSend(t, http.MethodPost, gatewayURL(t)+"/api/v1/orders", h, strings.NewReader(body))
}

// knownOrders is u's list once every order the scenario knows u to have
// (sc.orders) shows in it: what a "no order was made" check compares with
// (a list shows an order a moment after its 202).
func knownOrders(t *testing.T, sc *scenario, u user) []string {
	t.Helper()
	n := 0
	for _, owner := range sc.orders {
		if owner.ID == u.ID {
			n++
		}
	}
	return orderIDs(myOrdersAtLeast(t, u, n))
}

func orderIDs(orders []order) []string {
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	return ids
}

// jwtSigningKey reads the key that signs the shop's tokens from the
// secret store through users' sidecar (the one app allowed to), as
// signedTokenAt does.
func jwtSigningKey(t *testing.T) authtoken.SigningKey {
	t.Helper()
	status, _, b := do(t, http.MethodGet, sidecarURL(t, "users")+"/v1.0/secrets/secretstore/jwt-signing-key", "", nil,
		map[string]string{"dapr-api-token": sys.Env()["DAPR_API_TOKEN"]})
	require.Equal(t, http.StatusOK, status, "%s", b)
	var secret map[string]string
	require.NoError(t, json.Unmarshal(b, &secret))
	key, err := authtoken.ParseSigningKey([]byte(secret["jwt-signing-key"]))
	require.NoError(t, err)
	return key
}

var b64 = base64.RawURLEncoding

// rawJWT assembles a compact JWS by hand, for headers and signatures no
// library would produce.
func rawJWT(t *testing.T, header, claims map[string]any, sign func(signingInput string) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	require.NoError(t, err)
	c, err := json.Marshal(claims)
	require.NoError(t, err)
	in := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	return in + "." + b64.EncodeToString(sign(in))
}

func hmacSHA256(key []byte) func(string) []byte {
	return func(in string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(in))
		return m.Sum(nil)
	}
}

// neverEnding is an endless stream of one byte.
type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}
