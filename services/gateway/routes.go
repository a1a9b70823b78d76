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

	api := r.PathPrefix("/api/v1").Subrouter()
	api.Handle("/users", inv.handle(logger, "users", func(*http.Request) string {
		return "/users"
	})).Methods(http.MethodPost)
	api.Handle("/users/{id}/notifications", inv.handle(logger, "notifications", func(r *http.Request) string {
		return "/users/" + url.PathEscape(mux.Vars(r)["id"]) + "/notifications"
	})).Methods(http.MethodGet)
}
