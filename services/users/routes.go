package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/web"
)

// addRoutes registers the whole API surface of the service.
func addRoutes(r *mux.Router, logger *slog.Logger, svc *service, ready func(context.Context) error, appToken string) {
	r.Handle("/healthz", web.HandleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", web.HandleReadyz(logger, ready)).Methods(http.MethodGet)

	// Every route but health answers only the app's own sidecar. (Wrapped
	// one by one: a gorilla/mux subrouter would answer 404 for a wrong method.)
	protect := web.RequireAppToken(logger, appToken)
	r.Handle("/users", protect(handleRegisterUser(logger, svc))).Methods(http.MethodPost)
	r.Handle("/users/{id}", protect(handleGetUser(logger, svc))).Methods(http.MethodGet)
	r.Handle("/sessions", protect(handleCreateSession(logger, svc))).Methods(http.MethodPost)
}
