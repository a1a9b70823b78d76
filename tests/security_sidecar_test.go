package tests

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Security classes: sidecar APIs need the Dapr API token, app routes need
// the app token, access control holds against path tricks.

// secSidecarAPIs holds every app's sidecar, HTTP and gRPC, to the Dapr API
// token: without it anyone who reaches the port could read secrets, write
// state or shut the sidecar down. Health is the one exception.
func secSidecarAPIs(t *testing.T, env *secEnv) {
	tally, daprToken, appToken := env.tally, env.daprToken, env.appToken
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
}

// secAppRoutes calls every app route directly, past its sidecar: without
// the app token the access-control policy could be bypassed altogether.
// Health and readiness are the exceptions.
func secAppRoutes(t *testing.T, env *secEnv) {
	tally, daprToken, appToken, ada, pa, target := env.tally, env.daprToken, env.appToken, env.ada, env.pa, env.target
	someOrder := uuid.NewString()
	type route struct {
		app, method, path string
	}
	routes := []route{
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
		{"catalog", http.MethodPut, "/products/" + pa.ID + "/receipts/" + someOrder},
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
		{"notifications", http.MethodPost, "/events/dead-letters/order.completed.recommendations.deadletter"},
	}
	if slices.Contains(apps, "recommendations") {
		routes = append(routes,
			route{"recommendations", http.MethodGet, "/products/" + pa.ID + "/recommendations"},
			route{"recommendations", http.MethodPost, "/events/order-completed"})
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
}

// secAccessControl tries to reach routes the access-control allow-list
// forbids by traversal, encoding, letter case and other names of the target
// app, since the policy and the app may read one path differently.
func secAccessControl(t *testing.T, env *secEnv) {
	tally, daprToken := env.tally, env.daprToken
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
}
