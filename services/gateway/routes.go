package main

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/web"
)

// addRoutes registers the whole public API. Public routes are limited per
// client address; the others need a bearer token and are limited per user.
// Paths are registered in full on the root router: a gorilla/mux subrouter
// answers a wrong method with 404 instead of 405.
func addRoutes(r *mux.Router, logger *slog.Logger, inv *invoker, ready func(context.Context) error, authn func(http.Handler) http.Handler, lim *limiter) {
	r.Handle("/healthz", web.HandleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", web.HandleReadyz(logger, ready)).Methods(http.MethodGet)
	r.Handle("/openapi.yaml", handleOpenAPI()).Methods(http.MethodGet)
	addStorefront(r, logger, storefront)

	limit := limitRequests(logger, lim)
	public := func(h http.Handler) http.Handler { return limit(h) }
	private := func(h http.Handler) http.Handler { return authn(limit(h)) }

	const api = "/api/v1"
	r.Handle(api+"/users", public(inv.handle(logger, "users", fixedPath("/users")))).Methods(http.MethodPost)
	r.Handle(api+"/sessions", public(inv.handle(logger, "users", fixedPath("/sessions")))).Methods(http.MethodPost)
	r.Handle(api+"/me", private(inv.handle(logger, "users", callerPath("/users/", "")))).Methods(http.MethodGet)
	r.Handle(api+"/notifications", private(inv.handle(logger, "notifications", callerPath("/users/", "/notifications")))).Methods(http.MethodGet)
	r.Handle(api+"/wallet", private(inv.handle(logger, "payments", callerPath("/users/", "/wallet")))).Methods(http.MethodGet)
	r.Handle(api+"/products", public(inv.handle(logger, "catalog", fixedPath("/products")))).Methods(http.MethodGet)
	r.Handle(api+"/products/{id:"+idPattern+"}", public(inv.handle(logger, "catalog", varPath("/products/", "id", "")))).Methods(http.MethodGet)
	r.Handle(api+"/products/{id:"+idPattern+"}/recommendations", public(inv.handle(logger, "recommendations", varPath("/products/", "id", "/recommendations")))).Methods(http.MethodGet)
	r.Handle(api+"/orders", private(inv.handle(logger, "orders", callerPath("/users/", "/orders")))).Methods(http.MethodGet, http.MethodPost)
	r.Handle(api+"/orders/{id:"+idPattern+"}", private(inv.handle(logger, "orders", callerOrderPath()))).Methods(http.MethodGet, http.MethodDelete)
}

// upstreamApps are the apps the routes above forward to, each behind its
// own circuit breaker (breaker.go).
var upstreamApps = []string{"users", "notifications", "payments", "catalog", "orders", "recommendations"}

// idPattern is what a product or order id in a public path may hold:
// letters, digits, '-' and '_' (the services check the exact form). Any
// other character is a 404 at the gateway and never reaches a sidecar:
// daprd refuses '#', '?' and NUL in a method name with a 500, and a '%'
// (a double-encoded "%2F..") would be decoded again by the service's
// router, which cleans the path and redirects to another of its routes.
const idPattern = `[A-Za-z0-9_-]+`

// openAPISpec is the OpenAPI document of exactly the routes above; a test
// walks the router and the document both ways.
//
//go:embed openapi.yaml
var openAPISpec []byte

func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openAPISpec)
	})
}

// fixedPath targets the same path whatever the request.
func fixedPath(p string) func(*http.Request) string {
	return func(*http.Request) string { return p }
}

// varPath targets prefix + the (escaped) route variable name + suffix.
func varPath(prefix, name, suffix string) func(*http.Request) string {
	return func(r *http.Request) string {
		return prefix + url.PathEscape(mux.Vars(r)[name]) + suffix
	}
}

// callerOrderPath targets one of the caller's orders: the caller from the
// token, the order id from the URL. Another user's order id finds nothing
// under the caller's path, so it is a 404, never a 403.
func callerOrderPath() func(*http.Request) string {
	return func(r *http.Request) string {
		return callerPath("/users/", "/orders/")(r) + url.PathEscape(mux.Vars(r)["id"])
	}
}

// callerPath targets a path naming the authenticated caller: the id comes
// from the verified token, never from the client's URL, so no client can
// name another user (and no encoded "/.." can reach another path).
func callerPath(prefix, suffix string) func(*http.Request) string {
	return func(r *http.Request) string {
		sub, _ := principal(r.Context())
		return prefix + url.PathEscape(sub) + suffix
	}
}
