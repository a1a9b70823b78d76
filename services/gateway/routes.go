package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/web"
)

// addRoutes registers the whole public API.
func addRoutes(r *mux.Router, logger *slog.Logger, inv *invoker, ready func(context.Context) error) {
	r.Handle("/healthz", web.HandleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", web.HandleReadyz(logger, ready)).Methods(http.MethodGet)

	// Full paths on the root router: a gorilla/mux subrouter answers a wrong
	// method with 404 instead of 405.
	const api = "/api/v1"
	r.Handle(api+"/users", inv.handle(logger, "users", func(*http.Request) string {
		return "/users"
	})).Methods(http.MethodPost)
	r.Handle(api+"/users/{id}/notifications", inv.handle(logger, "notifications", func(r *http.Request) string {
		return "/users/" + pathVar(r, "id") + "/notifications"
	})).Methods(http.MethodGet)
}

// pathVar returns a route variable escaped for use in a path: the router
// matches on the escaped path, so the variable is unescaped once and escaped
// again, which keeps "/", "?" and "#" inside the segment.
func pathVar(r *http.Request, name string) string {
	v := mux.Vars(r)[name]
	if u, err := url.PathUnescape(v); err == nil {
		v = u
	}
	return url.PathEscape(v)
}
