package tests

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/web"
)

// Security classes: encoded tricks in the public API, mass assignment,
// oversized and nested bodies.

// secEncodedTricks sends encoded and double-encoded paths to the gateway's
// public routes, hoping one reaches another user's order or an internal
// route once decoded.
func secEncodedTricks(t *testing.T, env *secEnv) {
	tally, gw, ada, eve, pa, target := env.tally, env.gw, env.ada, env.eve, env.pa, env.target
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
}

// secMassAssignment sends fields a client must not set, and duplicate or
// case-variant keys, at registration and ordering: a lax decoder would let
// one through.
func secMassAssignment(t *testing.T, env *secEnv) {
	tally, accounts, gw, sc, ada, mallory, pa, pb, target := env.tally, env.accounts, env.gw, env.sc, env.ada, env.mallory, env.pa, env.pb, env.target
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
}

// secOversizedBodies sends bodies past the size, depth and length limits,
// chunked and compressed ones included: each must be refused before it
// costs the services memory, and make nothing.
func secOversizedBodies(t *testing.T, env *secEnv) {
	tally, accounts, gw, sc, mallory, pa := env.tally, env.accounts, env.gw, env.sc, env.mallory, env.pa
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
}
