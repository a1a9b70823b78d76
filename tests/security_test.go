package tests

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/daprshop/daprshop/internal/authtoken"
	"github.com/daprshop/daprshop/internal/web"
)

// The security scenario of the fault suite ("faults, chaos and attacks"):
// hostile requests against every layer, each a row of a table, each held to
// its documented answer and to changing nothing. What the other tests
// check one case at a time (acl_test.go, auth_test.go, orders_test.go,
// skeleton_test.go) is not repeated here; this covers the rest of each
// class. Every attempt is counted, and the summary gets one row.

// secTally counts the hostile requests of TestSecurityAttacks and the
// violations: attempts that did not get their documented answer or that
// changed something.
type secTally struct {
	attempts, violations int
}

// attempt runs one hostile request as a subtest: the assertions of check
// are the attempt's verdict, and a failed one counts as a violation.
func (s *secTally) attempt(t *testing.T, name string, check func(t *testing.T)) {
	t.Helper()
	s.attempts++
	if !t.Run(name, check) {
		s.violations++
	}
}

// verify runs a check of what the attempts may have changed: no attempt
// itself, but a failure is a violation.
func (s *secTally) verify(t *testing.T, name string, check func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, check) {
		s.violations++
	}
}

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

// TestSecurityAttacks is the security scenario: "Every sidecar API refuses
// calls without the Dapr API token (health excepted); every app route
// refuses calls without the app token; the access-control allow-list holds,
// including path-traversal and encoded-character tricks; JWT attacks; one
// user reading or cancelling another's orders; mass assignment; oversized
// and deeply nested bodies; rate-limit evasion by rotating
// X-Forwarded-For; idempotency-key abuse. Each attempt gets the documented
// 4xx and changes nothing."
func TestSecurityAttacks(t *testing.T) {
	skipShort(t)
	tally := &secTally{}
	// The accounts the checks register on the way: their user.registered
	// events are awaited at the end, so that none lands in a later test.
	accounts := &secAccounts{}
	defer accounts.await(t)
	t.Cleanup(func() {
		recordChaos(chaosRow{
			Scenario: "security: hostile requests", Iterations: 1, Faults: tally.attempts,
			Work: fmt.Sprintf("%d attempts", tally.attempts), Violations: tally.violations, Settle: 0,
		})
		assert.Zero(t, tally.violations, "hostile requests answered other than documented, or changing something, out of %d", tally.attempts)
	})

	daprToken, appToken := sys.Env()["DAPR_API_TOKEN"], sys.Env()["APP_API_TOKEN"]
	require.NotEmpty(t, daprToken)
	require.NotEmpty(t, appToken)
	gw := gatewayURL(t)

	// The victims and the attackers, each with a fresh wallet; Ada's order
	// is the target of the attacks on orders.
	sc := newScenario(t, "Ada", "Eve", "Bob", "Mallory")
	ada, eve, bob, mallory := sc.users[0], sc.users[1], sc.users[2], sc.users[3]
	pa, pb := inStock(t)
	stockBefore := readStock(t)
	lineOf := func(p product, qty int) string {
		return fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":%d}]}`, p.ID, qty)
	}
	status, b := placeOrder(t, ada, uuid.NewString(), lineOf(pa, 1))
	require.Equal(t, http.StatusAccepted, status, "%s", b)
	var target order
	require.NoError(t, json.Unmarshal(b, &target))
	sc.orders[target.ID] = ada

	t.Run("sidecar APIs need the Dapr API token", func(t *testing.T) {
		variants := []struct {
			name   string
			header map[string]string
		}{
			{"no token", nil},
			{"a wrong token", map[string]string{"dapr-api-token": "guess"}},
			{"the app token", map[string]string{"dapr-api-token": appToken}},
		}
		for _, id := range apps {
			base := sidecarURL(t, id)
			// The token opens the same API: the refusals below are the token's.
			ok := secSend(t, http.MethodGet, base+"/v1.0/metadata", map[string]string{"dapr-api-token": daprToken}, nil)
			require.Equal(t, http.StatusOK, ok.status, "%s", ok.body)
			wf := uuid.NewString()
			apis := []struct {
				name, method, path, body string
			}{
				{"metadata", http.MethodGet, "/v1.0/metadata", ""},
				{"metadata write", http.MethodPut, "/v1.0/metadata/security-probe", "hostile"},
				{"state read", http.MethodGet, "/v1.0/state/" + id + "-store/security-probe", ""},
				{"state write", http.MethodPost, "/v1.0/state/" + id + "-store", `[{"key":"security-probe","value":"hostile"}]`},
				{"publish", http.MethodPost, "/v1.0/publish/pubsub/security.probe", `{}`},
				{"invoke", http.MethodGet, "/v1.0/invoke/" + id + "/method/healthz", ""},
				{"invoke another app", http.MethodGet, "/v1.0/invoke/catalog/method/stock", ""},
				{"secret", http.MethodGet, "/v1.0/secrets/secretstore/jwt-signing-key", ""},
				{"bulk secrets", http.MethodGet, "/v1.0/secrets/secretstore/bulk", ""},
				{"workflow read", http.MethodGet, "/v1.0-beta1/workflows/dapr/" + wf, ""},
				{"workflow terminate", http.MethodPost, "/v1.0-beta1/workflows/dapr/" + wf + "/terminate", ""},
				{"workflow read, stable API", http.MethodGet, "/v1.0/workflows/dapr/" + wf, ""},
				{"shutdown", http.MethodPost, "/v1.0/shutdown", ""},
				{"health path, traversed", http.MethodGet, "/v1.0/healthz/../metadata", ""},
				{"health path, encoded traversal", http.MethodGet, "/v1.0/healthz%2F..%2Fmetadata", ""},
			}
			for _, api := range apis {
				for _, v := range variants {
					tally.attempt(t, id+" "+api.name+" with "+v.name, func(t *testing.T) {
						var body io.Reader
						if api.body != "" {
							body = strings.NewReader(api.body)
						}
						a := secSend(t, api.method, base+api.path, v.header, body)
						assert.Equal(t, http.StatusUnauthorized, a.status, "%s", a.body)
						assert.Equal(t, "invalid api token\n", a.body)
					})
				}
			}
			for _, path := range []string{"/v1.0/healthz", "/v1.0/healthz/outbound"} {
				tally.attempt(t, id+" "+path+" without a token", func(t *testing.T) {
					a := secSend(t, http.MethodGet, base+path, nil, nil)
					assert.Equal(t, http.StatusNoContent, a.status, "%s", a.body)
				})
			}
			// The gRPC API holds to the same token.
			app, found := sys.App(id)
			require.True(t, found)
			conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", app.GRPCPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
			require.NoError(t, err)
			getMetadata := func(md ...string) error {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if len(md) > 0 {
					ctx = metadata.AppendToOutgoingContext(ctx, md...)
				}
				return conn.Invoke(ctx, "/dapr.proto.runtime.v1.Dapr/GetMetadata", &emptypb.Empty{}, &emptypb.Empty{})
			}
			require.NoError(t, getMetadata("dapr-api-token", daprToken), "gRPC GetMetadata with the token")
			for _, v := range []struct {
				name string
				md   []string
			}{{"no token", nil}, {"a wrong token", []string{"dapr-api-token", "guess"}}, {"the app token", []string{"dapr-api-token", appToken}}} {
				tally.attempt(t, id+" gRPC GetMetadata with "+v.name, func(t *testing.T) {
					err := getMetadata(v.md...)
					assert.Equal(t, codes.Unauthenticated, grpcstatus.Code(err), "%v", err)
				})
			}
			require.NoError(t, conn.Close())
		}
	})

	t.Run("app routes need the app token", func(t *testing.T) {
		someOrder := uuid.NewString()
		routes := []struct {
			app, method, path string
		}{
			{"users", http.MethodPost, "/users"},
			{"users", http.MethodGet, "/users/" + ada.ID},
			{"users", http.MethodPost, "/sessions"},
			{"catalog", http.MethodGet, "/products"},
			{"catalog", http.MethodGet, "/products/" + pa.ID},
			{"catalog", http.MethodGet, "/reservations"},
			{"catalog", http.MethodGet, "/reservations/" + target.ID},
			{"catalog", http.MethodPost, "/reservations/" + someOrder + "/try"},
			{"catalog", http.MethodPost, "/reservations/" + target.ID + "/confirm"},
			{"catalog", http.MethodPost, "/reservations/" + target.ID + "/cancel"},
			{"catalog", http.MethodGet, "/stock"},
			{"orders", http.MethodPost, "/users/" + ada.ID + "/orders"},
			{"orders", http.MethodGet, "/users/" + ada.ID + "/orders"},
			{"orders", http.MethodGet, "/users/" + ada.ID + "/orders/" + target.ID},
			{"orders", http.MethodDelete, "/users/" + ada.ID + "/orders/" + target.ID},
			{"payments", http.MethodGet, "/users/" + ada.ID + "/wallet"},
			{"payments", http.MethodPost, "/events/user-registered"},
			{"payments", http.MethodPost, "/charges/" + someOrder},
			{"payments", http.MethodPost, "/charges/" + target.ID + "/refund"},
			{"payments", http.MethodGet, "/charges/" + target.ID},
			{"payments", http.MethodGet, "/merchant"},
			{"notifications", http.MethodGet, "/users/" + ada.ID + "/notifications"},
			{"notifications", http.MethodPost, "/events/user-registered"},
			{"notifications", http.MethodPost, "/events/order-completed"},
			{"notifications", http.MethodPost, "/events/order-cancelled"},
			{"notifications", http.MethodPost, "/events/dead-letters/user.registered.notifications.deadletter"},
			{"notifications", http.MethodPost, "/events/dead-letters/user.registered.payments.deadletter"},
			{"notifications", http.MethodPost, "/events/dead-letters/order.completed.notifications.deadletter"},
			{"notifications", http.MethodPost, "/events/dead-letters/order.cancelled.notifications.deadletter"},
		}
		variants := []struct {
			name   string
			header map[string]string
		}{
			{"no token", map[string]string{"Content-Type": "application/json"}},
			{"a wrong token", map[string]string{"Content-Type": "application/json", "dapr-api-token": "guess"}},
			{"the Dapr API token", map[string]string{"Content-Type": "application/json", "dapr-api-token": daprToken}},
			{"the app token as a bearer token", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + appToken}},
		}
		for _, r := range routes {
			for _, v := range variants {
				tally.attempt(t, r.app+" "+r.method+" "+r.path+" with "+v.name, func(t *testing.T) {
					var body io.Reader
					if r.method == http.MethodPost {
						body = strings.NewReader(`{}`)
					}
					a := secSend(t, r.method, appURL(t, r.app)+r.path, v.header, body)
					assertProblem(t, http.StatusUnauthorized, a)
					assert.Contains(t, a.body, "Dapr sidecar only")
					assert.NotContains(t, a.body, ada.Email)
				})
			}
		}
		for _, id := range apps {
			for _, path := range []string{"/healthz", "/readyz"} {
				tally.attempt(t, id+" "+path+" without a token", func(t *testing.T) {
					a := secSend(t, http.MethodGet, appURL(t, id)+path, nil, nil)
					assert.Equal(t, http.StatusOK, a.status, "%s", a.body)
				})
			}
		}
	})

	t.Run("access control holds against path tricks", func(t *testing.T) {
		const (
			anyBody = ""
			denied  = "access control policy has denied access to id: spiffe://public/ns/default/"
		)
		x := uuid.NewString()
		tests := []struct {
			name                string
			via, method, target string
			path                string // after /method
			want                int
			wantBody            string // contained in the body; denied: + the caller
			wantLocation        string // of a redirect
		}{
			// Traversal, encoded or not, is resolved before the policy is
			// applied: the policy judges the path the app would get.
			{"encoded traversal to an unlisted verb", "gateway", http.MethodGet, "users", "/users/%2F..%2Fsessions", http.StatusForbidden, denied, ""},
			{"encoded traversal to an event route", "gateway", http.MethodPost, "users", "/users/x/..%2F..%2Fevents/user-registered", http.StatusForbidden, denied, ""},
			{"plain traversal to an event route", "gateway", http.MethodPost, "users", "/users/x/../../events/user-registered", http.StatusForbidden, denied, ""},
			{"half-encoded dot segment", "gateway", http.MethodGet, "users", "/users/.%2E/sessions", http.StatusForbidden, denied, ""},
			{"traversal out of a listed prefix", "gateway", http.MethodGet, "payments", "/users/" + x + "/wallet/..%2F..%2F..%2Fmerchant", http.StatusForbidden, denied, ""},
			{"traversal over a fragment", "gateway", http.MethodGet, "payments", "/users/" + x + "/wallet%23/../../../merchant", http.StatusForbidden, denied, ""},
			{"traversal to the stock", "gateway", http.MethodGet, "catalog", "/products/..%2Fstock", http.StatusForbidden, denied, ""},
			{"encoded dot segment", "gateway", http.MethodGet, "catalog", "/products/%2E%2E/stock", http.StatusForbidden, denied, ""},
			{"encoded slash after the prefix", "gateway", http.MethodGet, "catalog", "/products%2F..%2Fstock", http.StatusForbidden, denied, ""},
			{"double slashes", "gateway", http.MethodGet, "catalog", "/products//..//stock", http.StatusForbidden, denied, ""},
			{"dot segment", "gateway", http.MethodGet, "catalog", "/./stock", http.StatusForbidden, denied, ""},
			{"leading double slash", "gateway", http.MethodGet, "catalog", "//stock", http.StatusForbidden, denied, ""},
			{"upper-case path", "gateway", http.MethodGet, "catalog", "/STOCK", http.StatusForbidden, denied, ""},
			{"traversal into the callee's Dapr API", "gateway", http.MethodGet, "users", "/users/x/..%2F..%2F..%2F..%2Fv1.0/secrets/secretstore/jwt-signing-key", http.StatusForbidden, denied, ""},
			{"traversal out of a saga step", "orders", http.MethodPost, "catalog", "/reservations/" + x + "/try/..%2F..%2F..%2Fstock", http.StatusForbidden, denied, ""},
			{"traversal out of a charge", "orders", http.MethodPost, "payments", "/charges/" + x + "/..%2F..%2Fevents/user-registered", http.StatusForbidden, denied, ""},
			{"traversal out of a refund", "orders", http.MethodGet, "payments", "/charges/" + x + "/refund/..%2F..%2F..%2Fmerchant", http.StatusForbidden, denied, ""},
			{"an app without a policy, traversing", "payments", http.MethodGet, "users", "/users/..%2Fusers%2F" + x, http.StatusForbidden, denied, ""},
			// Verbs are upper-cased before the policy is applied.
			{"lower-case verb", "gateway", "get", "catalog", "/stock", http.StatusForbidden, denied, ""},
			{"lower-case unlisted verb", "gateway", "post", "catalog", "/products", http.StatusForbidden, denied, ""},
			{"mixed-case unlisted verb", "gateway", "Delete", "payments", "/users/" + x + "/wallet", http.StatusForbidden, denied, ""},
			{"unknown verb", "gateway", "PROPFIND", "catalog", "/products", http.StatusForbidden, denied, ""},
			{"lower-case verb, no policy", "notifications", "get", "catalog", "/products", http.StatusForbidden, denied, ""},
			// Characters that would cut the path short are refused by the
			// caller's own sidecar before any call (daprd's NormalizeMethod):
			// 500 "failed to invoke".
			{"encoded fragment", "gateway", http.MethodGet, "catalog", "/products%23/x", http.StatusInternalServerError, "forbidden character", ""},
			{"encoded query", "gateway", http.MethodGet, "catalog", "/products%3Fx", http.StatusInternalServerError, "forbidden character", ""},
			{"encoded NUL", "gateway", http.MethodGet, "catalog", "/products%00", http.StatusInternalServerError, "forbidden character", ""},
			{"encoded fragment before a listed path", "gateway", http.MethodGet, "payments", "/merchant%23/users/" + x + "/wallet", http.StatusInternalServerError, "forbidden character", ""},
			// Double encoding passes the policy as one segment of a listed
			// path; the app's router decodes it and answers a redirect to
			// the clean path without running any handler (daprd does not
			// follow redirects).
			{"double-encoded traversal to the stock", "gateway", http.MethodGet, "catalog", "/products/..%252Fstock", http.StatusMovedPermanently, anyBody, "/stock"},
			{"double-encoded traversal to the merchant", "gateway", http.MethodGet, "payments", "/users/" + x + "/wallet/..%252F..%252F..%252Fmerchant", http.StatusMovedPermanently, anyBody, "/merchant"},
			{"double-encoded traversal to an event route", "orders", http.MethodPost, "payments", "/charges/x%252F..%252F..%252Fevents%252Fuser-registered", http.StatusMovedPermanently, anyBody, "/events/user-registered"},
			// A listed path in another letter case passes the policy (it
			// compares lower case) and reaches nothing: the app's routes are
			// case-sensitive.
			{"upper-case listed path", "gateway", http.MethodGet, "catalog", "/PRODUCTS", http.StatusNotFound, `"status":404`, ""},
		}
		for _, tt := range tests {
			tally.attempt(t, tt.via+" "+tt.method+" "+tt.target+" "+tt.name, func(t *testing.T) {
				a := secSend(t, tt.method, sidecarURL(t, tt.via)+"/v1.0/invoke/"+tt.target+"/method"+tt.path, map[string]string{"dapr-api-token": daprToken}, nil)
				assert.Equal(t, tt.want, a.status, "%s", a.body)
				if want := tt.wantBody; want != anyBody {
					if want == denied {
						want += tt.via
					}
					assert.Contains(t, a.body, want)
				}
				assert.Equal(t, tt.wantLocation, a.header.Get("Location"))
				assert.NotContains(t, a.body, "balance_cents")
				assert.NotContains(t, a.body, `"reserved"`)
			})
		}
		// The other ways to name the target app, and tricks on the app id.
		other := []struct {
			name   string
			url    string
			header map[string]string
		}{
			{"dapr-app-id header", sidecarURL(t, "gateway") + "/stock", map[string]string{"dapr-app-id": "catalog"}},
			{"dapr-app-id header, encoded traversal", sidecarURL(t, "gateway") + "/products/..%2Fstock", map[string]string{"dapr-app-id": "catalog"}},
			{"dapr-app-id header, double slash", sidecarURL(t, "gateway") + "//products/../stock", map[string]string{"dapr-app-id": "catalog"}},
			{"app id in basic auth", sidecarURL(t, "gateway") + "/stock", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("dapr-app-id:catalog"))}},
			{"app id with its namespace", sidecarURL(t, "gateway") + "/v1.0/invoke/catalog.default/method/stock", nil},
			{"traversal from one app id to another", sidecarURL(t, "gateway") + "/v1.0/invoke/users/method/../../payments/method/merchant", nil},
			{"encoded traversal from one app id to another", sidecarURL(t, "gateway") + "/v1.0/invoke/users%2Fmethod%2F..%2F..%2Fpayments/method/merchant", nil},
		}
		for _, tt := range other {
			tally.attempt(t, "gateway "+tt.name, func(t *testing.T) {
				header := map[string]string{"dapr-api-token": daprToken}
				for k, v := range tt.header {
					header[k] = v
				}
				a := secSend(t, http.MethodGet, tt.url, header, nil)
				assert.Equal(t, http.StatusForbidden, a.status, "%s", a.body)
				assert.Contains(t, a.body, denied+"gateway")
			})
		}
	})

	t.Run("forged and broken tokens", func(t *testing.T) {
		key := jwtSigningKey(t)
		claims := func(change map[string]any, drop ...string) jwt.MapClaims {
			now := time.Now()
			c := jwt.MapClaims{
				"iss": "daprshop-users", "aud": "daprshop", "sub": ada.ID, "jti": uuid.NewString(),
				"exp": now.Add(time.Hour).Unix(), "nbf": now.Unix(), "iat": now.Unix(),
			}
			for k, v := range change {
				c[k] = v
			}
			for _, k := range drop {
				delete(c, k)
			}
			return c
		}
		// sign signs c with method m and key k, naming kid in the header
		// when it is not empty.
		sign := func(m jwt.SigningMethod, k any, kid string, c jwt.MapClaims) string {
			tok := jwt.NewWithClaims(m, c)
			if kid != "" {
				tok.Header["kid"] = kid
			}
			s, err := tok.SignedString(k)
			require.NoError(t, err)
			return s
		}
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		_, attacker, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		pub, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
		require.NoError(t, err)
		pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
		// The shop's public key, which the gateway holds: the material of
		// an algorithm-confusion attack (HS256 "signed" with it).
		shopPub := key.Key.Public().(ed25519.PublicKey)
		shopPubDER, err := x509.MarshalPKIXPublicKey(shopPub)
		require.NoError(t, err)
		shopPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: shopPubDER})

		// The forging itself is right: the same claims, signed as the users
		// service signs, open Ada's account.
		good := sign(jwt.SigningMethodEdDSA, key.Key, key.ID, claims(nil))
		ok := secSend(t, http.MethodGet, gw+"/api/v1/me", secJSON(good), nil)
		require.Equal(t, http.StatusOK, ok.status, "%s", ok.body)
		require.Contains(t, ok.body, ada.ID)

		goodParts := strings.Split(good, ".")
		require.Len(t, goodParts, 3)
		// The signature's last character carries bits of padding: flip
		// one, and a lax base64 decoder reads the same signature.
		sig := []byte(goodParts[2])
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		sig[len(sig)-1] = alphabet[strings.IndexByte(alphabet, sig[len(sig)-1])^1]
		paddingBits := goodParts[0] + "." + goodParts[1] + "." + string(sig)
		none := func(alg string) string {
			return rawJWT(t, map[string]any{"alg": alg, "typ": "JWT", "kid": key.ID}, claims(nil), func(string) []byte { return nil })
		}
		edSigned := func(signingInput string) []byte { return ed25519.Sign(key.Key, []byte(signingInput)) }
		edClaims := func(change map[string]any, drop ...string) string {
			return sign(jwt.SigningMethodEdDSA, key.Key, key.ID, claims(change, drop...))
		}
		now := time.Now()
		tokens := []struct {
			name, token string
		}{
			{"alg none, by the library", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, key.ID, claims(nil))},
			{"alg None", none("None")},
			{"alg nOnE", none("nOnE")},
			{"alg none with the valid signature kept", rawJWT(t, map[string]any{"alg": "none", "typ": "JWT", "kid": key.ID}, claims(nil), func(string) []byte { s, _ := b64.DecodeString(goodParts[2]); return s })},
			{"algorithm confusion: HS256 keyed with the shop's public key", sign(jwt.SigningMethodHS256, []byte(shopPub), key.ID, claims(nil))},
			{"algorithm confusion: HS256 keyed with the shop's public key in PEM", sign(jwt.SigningMethodHS256, shopPubPEM, key.ID, claims(nil))},
			{"algorithm confusion: HS512 keyed with the shop's public key", sign(jwt.SigningMethodHS512, []byte(shopPub), key.ID, claims(nil))},
			{"EdDSA with an attacker's key under the shop's kid", sign(jwt.SigningMethodEdDSA, attacker, key.ID, claims(nil))},
			{"EdDSA with an attacker's key and kid", sign(jwt.SigningMethodEdDSA, attacker, "attacker-1", claims(nil))},
			{"EdDSA with the right key and no kid", sign(jwt.SigningMethodEdDSA, key.Key, "", claims(nil))},
			{"RS256 with an attacker's key", sign(jwt.SigningMethodRS256, rsaKey, key.ID, claims(nil))},
			{"ES256 with an attacker's key", sign(jwt.SigningMethodES256, ecKey, key.ID, claims(nil))},
			{"header RS256, the right key's EdDSA signature", rawJWT(t, map[string]any{"alg": "RS256", "typ": "JWT", "kid": key.ID}, claims(nil), edSigned)},
			{"header Ed25519, the right key's EdDSA signature", rawJWT(t, map[string]any{"alg": "Ed25519", "typ": "JWT", "kid": key.ID}, claims(nil), edSigned)},
			{"HS256 keyed with an RSA public key", sign(jwt.SigningMethodHS256, pubPEM, key.ID, claims(nil))},
			{"HS256 with an empty key", rawJWT(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": key.ID}, claims(nil), hmacSHA256(nil))},
			{"kid and jku pointing elsewhere", rawJWT(t, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": "../../../../dev/null", "jku": "http://203.0.113.1/jwks.json"}, claims(nil), func(in string) []byte { return ed25519.Sign(attacker, []byte(in)) })},
			{"wrong issuer", edClaims(map[string]any{"iss": "evil"})},
			{"no issuer", edClaims(nil, "iss")},
			{"wrong audience", edClaims(map[string]any{"aud": "another-app"})},
			{"no audience", edClaims(nil, "aud")},
			{"expired", edClaims(map[string]any{"exp": now.Add(-2 * time.Minute).Unix(), "iat": now.Add(-time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix()})},
			{"not valid yet", edClaims(map[string]any{"nbf": now.Add(5 * time.Minute).Unix()})},
			{"issued in the future", edClaims(map[string]any{"iat": now.Add(5 * time.Minute).Unix()})},
			{"no expiry", edClaims(nil, "exp")},
			{"no nbf", edClaims(nil, "nbf")},
			{"no iat", edClaims(nil, "iat")},
			{"no subject", edClaims(nil, "sub")},
			{"subject not a user id", edClaims(map[string]any{"sub": "admin"})},
			{"subject in upper case", edClaims(map[string]any{"sub": strings.ToUpper(ada.ID)})},
			{"signature with other padding bits", paddingBits},
			{"padded base64", good + "="},
			{"two tokens", good + " " + good},
			{"five segments", good + "." + goodParts[1] + "." + goodParts[2]},
		}
		for _, tt := range tokens {
			h := secJSON(tt.token)
			h["Idempotency-Key"] = uuid.NewString()
			refused := func(t *testing.T, a secAnswer) {
				t.Helper()
				assertProblem(t, http.StatusUnauthorized, a)
				assert.Contains(t, a.header.Get("WWW-Authenticate"), "Bearer")
				assert.NotContains(t, a.body, `"user_id"`, "no order in the answer")
			}
			tally.attempt(t, tt.name+": GET /api/v1/orders", func(t *testing.T) {
				refused(t, secSend(t, http.MethodGet, gw+"/api/v1/orders", h, nil))
			})
			tally.attempt(t, tt.name+": POST /api/v1/orders", func(t *testing.T) {
				before := knownOrders(t, sc, ada)
				refused(t, secSend(t, http.MethodPost, gw+"/api/v1/orders", h, strings.NewReader(lineOf(pb, 1))))
				assert.Equal(t, before, orderIDs(myOrders(t, ada)), "no order was placed for Ada")
			})
			tally.attempt(t, tt.name+": DELETE /api/v1/orders/{id}", func(t *testing.T) {
				refused(t, secSend(t, http.MethodDelete, gw+"/api/v1/orders/"+target.ID, h, nil))
			})
		}
	})

	t.Run("another user's orders", func(t *testing.T) {
		eveH := secJSON(eve.Token)
		eveAs := func(extra map[string]string) map[string]string {
			h := secJSON(eve.Token)
			for k, v := range extra {
				h[k] = v
			}
			return h
		}
		tests := []struct {
			name, method, path string
			header             map[string]string
			want               int
		}{
			{"read it", http.MethodGet, "/api/v1/orders/" + target.ID, eveH, http.StatusNotFound},
			{"cancel it", http.MethodDelete, "/api/v1/orders/" + target.ID, eveH, http.StatusNotFound},
			{"cancel it, id in upper case", http.MethodDelete, "/api/v1/orders/" + strings.ToUpper(target.ID), eveH, http.StatusBadRequest},
			{"read it, owner named in the query", http.MethodGet, "/api/v1/orders/" + target.ID + "?user=" + ada.ID + "&user_id=" + ada.ID, eveH, http.StatusNotFound},
			{"cancel it, owner named in X-User-Id", http.MethodDelete, "/api/v1/orders/" + target.ID, eveAs(map[string]string{"X-User-Id": ada.ID}), http.StatusNotFound},
			{"list them, owner named in X-User-Id", http.MethodGet, "/api/v1/orders", eveAs(map[string]string{"X-User-Id": ada.ID}), http.StatusOK},
			{"list them, owner named in the query", http.MethodGet, "/api/v1/orders?user=" + ada.ID + "&user_id=" + ada.ID, eveH, http.StatusOK},
			{"list them with a forged cursor", http.MethodGet, "/api/v1/orders?cursor=" + b64.EncodeToString([]byte("v1:0")), eveH, http.StatusOK},
			{"read Ada's profile, X-User-Id", http.MethodGet, "/api/v1/me", eveAs(map[string]string{"X-User-Id": ada.ID}), http.StatusOK},
		}
		for _, tt := range tests {
			tally.attempt(t, tt.name, func(t *testing.T) {
				a := secSend(t, tt.method, gw+tt.path, tt.header, nil)
				if tt.want == http.StatusOK {
					assert.Equal(t, http.StatusOK, a.status, "%s", a.body)
					if strings.HasPrefix(tt.path, "/api/v1/orders") {
						var page struct {
							Items []order `json:"items"`
						}
						assert.NoError(t, json.Unmarshal([]byte(a.body), &page), "%s", a.body)
						assert.Empty(t, page.Items, "Eve has no orders")
					} else {
						assert.Contains(t, a.body, eve.ID)
					}
				} else {
					assertProblem(t, tt.want, a)
				}
				assert.NotContains(t, a.body, ada.ID)
				assert.NotContains(t, a.body, ada.Email)
				assert.NotContains(t, a.body, `"user_id"`, "no order in the answer")
				assert.NotContains(t, a.body, "/users/", "an internal path in the answer")
			})
		}
		// Eve's cancels did nothing: Ada's order ends completed, never
		// refunded or released, and stays so.
		tally.verify(t, "Ada's order is untouched", func(t *testing.T) {
			final := awaitFinal(t, ada, target.ID, 2*time.Minute)
			assert.Equal(t, "completed", final.Status, "%+v", final)
			assert.False(t, final.step("refund", "done"))
			assert.False(t, final.step("release", "done"))
			_, before := getAs(t, ada, "/api/v1/orders/"+target.ID)
			a := secSend(t, http.MethodDelete, gw+"/api/v1/orders/"+target.ID, eveH, nil)
			assertProblem(t, http.StatusNotFound, a)
			status, after := getAs(t, ada, "/api/v1/orders/"+target.ID)
			assert.Equal(t, http.StatusOK, status)
			assert.JSONEq(t, string(before), string(after))
		})
	})

	t.Run("encoded tricks in the public API", func(t *testing.T) {
		status, targetBefore := getAs(t, ada, "/api/v1/orders/"+target.ID)
		require.Equal(t, http.StatusOK, status, "%s", targetBefore)
		tests := []struct {
			name, method, path string
			want               int
			wantLocation       string
		}{
			{"order id, encoded traversal to the owner's path", http.MethodGet, "/api/v1/orders/..%2F..%2F" + ada.ID + "%2Forders%2F" + target.ID, http.StatusMovedPermanently, "/api/" + ada.ID + "/orders/" + target.ID},
			{"order id, double-encoded traversal to the owner's path", http.MethodGet, "/api/v1/orders/..%252F..%252F" + ada.ID + "%252Forders%252F" + target.ID, http.StatusNotFound, ""},
			{"order id, double-encoded traversal, cancel", http.MethodDelete, "/api/v1/orders/..%252F..%252F" + ada.ID + "%252Forders%252F" + target.ID, http.StatusNotFound, ""},
			{"order id, encoded traversal after it", http.MethodGet, "/api/v1/orders/" + target.ID + "%2F..%2F..%2F..%2F" + ada.ID + "%2Forders", http.StatusMovedPermanently, "/api/" + ada.ID + "/orders"},
			{"order id, encoded dot segment", http.MethodGet, "/api/v1/orders/%2E%2E", http.StatusMovedPermanently, "/api/v1"},
			{"order id, encoded trailing slash", http.MethodGet, "/api/v1/orders/" + target.ID + "%2F", http.StatusNotFound, ""},
			{"order id, encoded fragment", http.MethodGet, "/api/v1/orders/" + target.ID + "%23", http.StatusNotFound, ""},
			{"order id, encoded query", http.MethodGet, "/api/v1/orders/" + target.ID + "%3Fuser=" + ada.ID, http.StatusNotFound, ""},
			{"order id, encoded NUL", http.MethodGet, "/api/v1/orders/" + target.ID + "%00", http.StatusNotFound, ""},
			{"order id, double-encoded slash", http.MethodGet, "/api/v1/orders/" + target.ID + "%252F", http.StatusNotFound, ""},
			{"product id, double-encoded traversal to the stock", http.MethodGet, "/api/v1/products/..%252Fstock", http.StatusNotFound, ""},
			{"product id, double-encoded traversal to reservations", http.MethodGet, "/api/v1/products/" + pa.ID + "%252F..%252F..%252Freservations", http.StatusNotFound, ""},
			{"product id, encoded fragment", http.MethodGet, "/api/v1/products/" + pa.ID + "%23", http.StatusNotFound, ""},
			{"product id, encoded query", http.MethodGet, "/api/v1/products/" + pa.ID + "%3Flimit=100", http.StatusNotFound, ""},
			{"product id, encoded NUL", http.MethodGet, "/api/v1/products/" + pa.ID + "%00", http.StatusNotFound, ""},
			{"product id, encoded dot segment", http.MethodGet, "/api/v1/products/%2E%2E", http.StatusMovedPermanently, "/api/v1"},
		}
		for _, tt := range tests {
			tally.attempt(t, tt.name, func(t *testing.T) {
				a := secSend(t, tt.method, gw+tt.path, secJSON(eve.Token), nil)
				if tt.want == http.StatusMovedPermanently {
					// The gateway's router cleans the decoded path and sends
					// the client there; the target is the gateway's own
					// path, where no route is.
					assert.Equal(t, tt.want, a.status, "%s", a.body)
					assert.Equal(t, tt.wantLocation, a.header.Get("Location"))
					if a.status == tt.want {
						b := secSend(t, tt.method, gw+tt.wantLocation, secJSON(eve.Token), nil)
						assertProblem(t, http.StatusNotFound, b)
					}
				} else {
					assertProblem(t, tt.want, a)
					assert.Empty(t, a.header.Get("Location"))
				}
				assert.NotContains(t, a.body, `"user_id"`)
				assert.NotContains(t, a.body, `"reserved"`)
				assert.NotContains(t, a.body, ada.Email)
				// The services' own paths (/users/{id}/orders/...) are
				// internal: the gateway rewrites a problem's instance to the
				// public path (publicInstance in services/gateway/handlers.go).
				assert.NotContains(t, a.body, "/users/", "an internal path in the answer")
			})
		}
		tally.verify(t, "Ada's order is untouched", func(t *testing.T) {
			status, after := getAs(t, ada, "/api/v1/orders/"+target.ID)
			assert.Equal(t, http.StatusOK, status)
			assert.JSONEq(t, string(targetBefore), string(after))
		})
	})

	t.Run("mass assignment", func(t *testing.T) {
		fresh := func() string { return fmt.Sprintf("mass-%s@example.com", uuid.NewString()[:8]) }
		user := func(email, extra string) string {
			return fmt.Sprintf(`{"email":%q,"name":"Mass","password":%q%s}`, email, testPassword, extra)
		}
		type userCase struct {
			name      string
			body      string
			emails    []string // none of which may have an account afterwards
			wantField string
		}
		var users []userCase
		add := func(name, wantField string, body func(e1, e2 string) string) {
			e1, e2 := fresh(), fresh()
			users = append(users, userCase{name, body(e1, e2), []string{e1, e2}, wantField})
		}
		add("role", "role", func(e, _ string) string { return user(e, `,"role":"admin"`) })
		add("is_admin", "is_admin", func(e, _ string) string { return user(e, `,"is_admin":true`) })
		add("balance_cents", "balance_cents", func(e, _ string) string { return user(e, `,"balance_cents":100000000`) })
		add("id", "id", func(e, _ string) string { return user(e, `,"id":"`+ada.ID+`"`) })
		add("created_at", "created_at", func(e, _ string) string { return user(e, `,"created_at":"2000-01-01T00:00:00Z"`) })
		add("password_hash", "password_hash", func(e, _ string) string { return user(e, `,"password_hash":"JDJhJDEwJGZha2U="`) })
		add("a nested object", "user", func(e, _ string) string { return user(e, `,"user":{"role":"admin"}`) })
		add("__proto__", "__proto__", func(e, _ string) string { return user(e, `,"__proto__":{"admin":true}`) })
		add("duplicate email", "email", func(e1, e2 string) string {
			return fmt.Sprintf(`{"email":%q,"email":%q,"name":"Mass","password":%q}`, e1, e2, testPassword)
		})
		add("case-variant duplicate email", "EMAIL", func(e1, e2 string) string {
			return fmt.Sprintf(`{"email":%q,"EMAIL":%q,"name":"Mass","password":%q}`, e1, e2, testPassword)
		})
		add("case-variant email, alone", "Email", func(e, _ string) string {
			return fmt.Sprintf(`{"Email":%q,"name":"Mass","password":%q}`, e, testPassword)
		})
		add("case-variant password, alone", "PASSWORD", func(e, _ string) string {
			return fmt.Sprintf(`{"email":%q,"name":"Mass","PASSWORD":%q}`, e, testPassword)
		})
		for _, tt := range users {
			tally.attempt(t, "POST /api/v1/users "+tt.name, func(t *testing.T) {
				a := secSend(t, http.MethodPost, gw+"/api/v1/users", secJSON(""), strings.NewReader(tt.body))
				assert.Contains(t, assertProblem(t, http.StatusBadRequest, a), tt.wantField)
				// No account: each address registers afresh.
				for _, e := range tt.emails {
					r := secSend(t, http.MethodPost, gw+"/api/v1/users", secJSON(""), strings.NewReader(user(e, "")))
					assert.Equal(t, http.StatusCreated, r.status, "register %s afterwards: %s", e, r.body)
					accounts.add(r)
				}
			})
		}

		line := fmt.Sprintf(`{"product_id":%q,"quantity":1}`, pa.ID)
		orders := []struct {
			name, body, wantField string
		}{
			{"status", `{"items":[` + line + `],"status":"completed"}`, "status"},
			{"total_cents", `{"items":[` + line + `],"total_cents":1}`, "total_cents"},
			{"user_id", `{"items":[` + line + `],"user_id":"` + ada.ID + `"}`, "user_id"},
			{"id", `{"items":[` + line + `],"id":"` + target.ID + `"}`, "id"},
			{"steps", `{"items":[` + line + `],"steps":[{"name":"charge","status":"done"}]}`, "steps"},
			{"a line's price", fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":1,"price_cents":1}]}`, pa.ID), "price_cents"},
			{"a line's name", fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":1,"name":"free"}]}`, pa.ID), "name"},
			{"duplicate items", fmt.Sprintf(`{"items":[%s],"items":[{"product_id":%q,"quantity":100}]}`, line, pb.ID), "items"},
			{"duplicate quantity", fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":1,"quantity":100}]}`, pa.ID), "quantity"},
			{"case-variant duplicate items", fmt.Sprintf(`{"items":[%s],"ITEMS":[{"product_id":%q,"quantity":100}]}`, line, pb.ID), "ITEMS"},
			{"case-variant items, alone", `{"Items":[` + line + `]}`, "Items"},
			{"case-variant quantity, alone", fmt.Sprintf(`{"items":[{"product_id":%q,"QUANTITY":1}]}`, pa.ID), "QUANTITY"},
		}
		for _, tt := range orders {
			tally.attempt(t, "POST /api/v1/orders "+tt.name, func(t *testing.T) {
				malloryBefore, adaBefore := knownOrders(t, sc, mallory), knownOrders(t, sc, ada)
				a := secPlaceOrder(t, mallory, uuid.NewString(), tt.body)
				assert.Contains(t, assertProblem(t, http.StatusBadRequest, a), tt.wantField)
				assert.Equal(t, malloryBefore, orderIDs(myOrders(t, mallory)), "no order for Mallory")
				assert.Equal(t, adaBefore, orderIDs(myOrders(t, ada)), "no order for Ada")
			})
		}
	})

	t.Run("oversized and nested bodies", func(t *testing.T) {
		// A body without Content-Length (chunked) is cut at the limit too.
		chunked := func(prefix string, n int, suffix string) io.Reader {
			return io.MultiReader(strings.NewReader(prefix), io.LimitReader(neverEnding('x'), int64(n)), strings.NewReader(suffix))
		}
		email := fmt.Sprintf("big-%s@example.com", uuid.NewString()[:8])
		var zipped bytes.Buffer
		zw := gzip.NewWriter(&zipped)
		_, err := zw.Write(bytes.Repeat([]byte(" "), 64<<20))
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		lines := make([]string, 51)
		for i := range lines {
			lines[i] = fmt.Sprintf(`{"product_id":"no-such-product-%d","quantity":1}`, i)
		}
		tests := []struct {
			name, path string
			body       func() io.Reader
			header     map[string]string
			want       int
			wantDetail string
			wantField  string
		}{
			{"chunked order over the limit", "/api/v1/orders", func() io.Reader { return chunked(`{"items":[],"x":"`, web.MaxBodyBytes, `"}`) }, nil, http.StatusRequestEntityTooLarge, "limit", ""},
			{"chunked registration over the limit", "/api/v1/users", func() io.Reader {
				return chunked(fmt.Sprintf(`{"email":%q,"password":%q,"name":"`, email, testPassword), web.MaxBodyBytes, `"}`)
			}, nil, http.StatusRequestEntityTooLarge, "limit", ""},
			{"order nested 33 deep", "/api/v1/orders", func() io.Reader {
				return strings.NewReader(`{"items":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`)
			}, nil, http.StatusBadRequest, "deeper than 32", ""},
			{"order nested 100000 deep", "/api/v1/orders", func() io.Reader {
				return strings.NewReader(`{"items":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`)
			}, nil, http.StatusBadRequest, "deeper than 32", ""},
			{"registration nested 100000 deep", "/api/v1/users", func() io.Reader {
				return strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q,"name":"Deep","x":`, email, testPassword) + strings.Repeat(`{"a":`, 100000) + `1` + strings.Repeat("}", 100000) + `}`)
			}, nil, http.StatusBadRequest, "deeper than 32", ""},
			{"order of 51 lines", "/api/v1/orders", func() io.Reader { return strings.NewReader(`{"items":[` + strings.Join(lines, ",") + `]}`) }, nil, http.StatusBadRequest, "", "items"},
			{"product id of half a megabyte", "/api/v1/orders", func() io.Reader {
				return strings.NewReader(`{"items":[{"product_id":"` + strings.Repeat("a", 512<<10) + `","quantity":1}]}`)
			}, nil, http.StatusBadRequest, "", "items[0].product_id"},
			{"quantity past any number", "/api/v1/orders", func() io.Reader {
				return strings.NewReader(fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":1e400}]}`, pa.ID))
			}, nil, http.StatusBadRequest, "", ""},
			{"name of 900 KB", "/api/v1/users", func() io.Reader {
				return strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q,"name":%q}`, email, testPassword, strings.Repeat("n", 900<<10)))
			}, nil, http.StatusBadRequest, "", "name"},
			{"gzip bomb, not inflated", "/api/v1/orders", func() io.Reader { return bytes.NewReader(zipped.Bytes()) }, map[string]string{"Content-Encoding": "gzip"}, http.StatusBadRequest, "malformed JSON", ""},
		}
		for _, tt := range tests {
			tally.attempt(t, tt.name, func(t *testing.T) {
				malloryBefore := knownOrders(t, sc, mallory)
				h := secJSON(mallory.Token)
				h["Idempotency-Key"] = uuid.NewString()
				for k, v := range tt.header {
					h[k] = v
				}
				a := secSend(t, http.MethodPost, gw+tt.path, h, tt.body())
				fields := assertProblem(t, tt.want, a)
				if tt.wantDetail != "" {
					assert.Contains(t, a.body, tt.wantDetail)
				}
				if tt.wantField != "" {
					assert.Contains(t, fields, tt.wantField)
				}
				assert.Equal(t, malloryBefore, orderIDs(myOrders(t, mallory)), "no order for Mallory")
			})
		}
		tally.verify(t, "no account for the oversized registrations", func(t *testing.T) {
			r := secSend(t, http.MethodPost, gw+"/api/v1/users", secJSON(""), strings.NewReader(fmt.Sprintf(`{"email":%q,"name":"Big","password":%q}`, email, testPassword)))
			assert.Equal(t, http.StatusCreated, r.status, "%s", r.body)
			accounts.add(r)
		})
	})

	t.Run("idempotency keys", func(t *testing.T) {
		// What earlier attacks may have made is not this class's to judge.
		adaBefore, malloryBefore := knownOrders(t, sc, ada), knownOrders(t, sc, mallory)
		key := uuid.NewString()
		one, two := lineOf(pb, 1), lineOf(pb, 2)
		status, first := placeOrder(t, ada, key, one)
		require.Equal(t, http.StatusAccepted, status, "%s", first)
		var adas order
		require.NoError(t, json.Unmarshal(first, &adas))
		sc.orders[adas.ID] = ada
		var bobs order

		tally.attempt(t, "the same key with another body", func(t *testing.T) {
			a := secPlaceOrder(t, ada, key, two)
			assertProblem(t, http.StatusUnprocessableEntity, a)
			assert.NotContains(t, a.body, adas.ID)
		})
		tally.attempt(t, "the same key with another product", func(t *testing.T) {
			assertProblem(t, http.StatusUnprocessableEntity, secPlaceOrder(t, ada, key, lineOf(pa, 1)))
		})
		tally.attempt(t, "the same key with an extra line", func(t *testing.T) {
			assertProblem(t, http.StatusUnprocessableEntity, secPlaceOrder(t, ada, key, fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":1},{"product_id":%q,"quantity":1}]}`, pb.ID, pa.ID)))
		})
		tally.attempt(t, "another user's key, another body", func(t *testing.T) {
			// Keys are the caller's: Ada's key tells Bob nothing (no 422),
			// and makes Bob an order of his own.
			status, b := placeOrder(t, bob, key, two)
			require.Equal(t, http.StatusAccepted, status, "%s", b)
			require.NoError(t, json.Unmarshal(b, &bobs))
			sc.orders[bobs.ID] = bob
			assert.NotEqual(t, adas.ID, bobs.ID)
			assert.Equal(t, bob.ID, bobs.UserID)
			assert.NotContains(t, string(b), ada.ID)
		})
		tally.attempt(t, "another user's key, the owner's body", func(t *testing.T) {
			// Bob's key is now his own order's: another body is his 422.
			a := secPlaceOrder(t, bob, key, one)
			assertProblem(t, http.StatusUnprocessableEntity, a)
			assert.NotContains(t, a.body, adas.ID)
		})
		tally.attempt(t, "a third user's key, the owner's body", func(t *testing.T) {
			// Eve replays Ada's exact request with her own token: no order
			// of Ada's comes back.
			status, b := placeOrder(t, eve, key, one)
			require.Equal(t, http.StatusAccepted, status, "%s", b)
			var eves order
			require.NoError(t, json.Unmarshal(b, &eves))
			sc.orders[eves.ID] = eve
			assert.NotEqual(t, adas.ID, eves.ID)
			assert.Equal(t, eve.ID, eves.UserID)
		})
		for _, k := range []struct{ name, key string }{
			{"a key of 256 characters", strings.Repeat("k", 256)},
			{"a key with a space", "two words"},
			{"a key outside ASCII", "clé-" + uuid.NewString()},
		} {
			tally.attempt(t, k.name, func(t *testing.T) {
				fields := assertProblem(t, http.StatusBadRequest, secPlaceOrder(t, mallory, k.key, one))
				assert.Contains(t, fields, "Idempotency-Key")
				assert.Equal(t, malloryBefore, orderIDs(myOrders(t, mallory)))
			})
		}
		tally.verify(t, "each user has the orders they placed, no more", func(t *testing.T) {
			status, again := placeOrder(t, ada, key, one)
			assert.Equal(t, http.StatusAccepted, status)
			assert.Equal(t, string(first), string(again), "Ada's retry gets her first answer")
			assert.ElementsMatch(t, append(adaBefore, adas.ID), orderIDs(myOrdersAtLeast(t, ada, len(adaBefore)+1)))
			assert.Equal(t, []string{bobs.ID}, orderIDs(myOrdersAtLeast(t, bob, 1)))
			assert.Len(t, myOrdersAtLeast(t, eve, 1), 1)
			assert.Equal(t, malloryBefore, orderIDs(myOrders(t, mallory)))
		})
	})

	tally.verify(t, "stock and money moved by the legitimate orders only", func(t *testing.T) {
		// Any order an attack made anyway is awaited too, and shows below.
		for _, u := range sc.users {
			for _, o := range myOrders(t, u) {
				if _, ok := sc.orders[o.ID]; !ok {
					t.Errorf("order %s of %s was made by an attack", o.ID, u.Name)
					sc.orders[o.ID] = u
				}
			}
		}
		sc.check(t)
		sold := map[string]int64{}
		for id, u := range sc.orders {
			o := awaitFinal(t, u, id, 2*time.Minute)
			if o.Status == "completed" {
				for _, it := range o.Items {
					sold[it.ProductID] += it.Quantity
				}
			}
		}
		after := readStock(t)
		for id, s := range stockBefore {
			assert.Equal(t, s.Sold+sold[id], after[id].Sold, "units of %s sold", id)
			assert.Equal(t, s.Available-sold[id], after[id].Available, "units of %s available", id)
			assert.Equal(t, s.Reserved, after[id].Reserved, "units of %s reserved", id)
		}
	})

	// Last: it empties the public bucket of this address, and waits for it.
	t.Run("rate limits hold against spoofed addresses", func(t *testing.T) {
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
	})
}

// secAccounts are the users the security checks registered.
type secAccounts struct{ ids []string }

// add notes the user a 201 answer created.
func (s *secAccounts) add(a secAnswer) {
	var u user
	if a.status == http.StatusCreated && json.Unmarshal([]byte(a.body), &u) == nil && u.ID != "" {
		s.ids = append(s.ids, u.ID)
	}
}

// await waits until each account's registration event was applied: its
// welcome in the inbox and its wallet opened.
func (s *secAccounts) await(t *testing.T) {
	t.Helper()
	for _, id := range s.ids {
		assert.Eventually(t, func() bool {
			items, err := appInbox(id)
			return err == nil && len(items) == 1 && walletOpened(id) == nil
		}, time.Minute, 50*time.Millisecond, "the registration of %s was applied", id)
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
