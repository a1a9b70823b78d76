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

	api := r.NewRoute().Subrouter()
	api.Use(mux.MiddlewareFunc(web.RequireAppToken(logger, appToken)))
	api.Handle("/users", handleRegisterUser(logger, svc)).Methods(http.MethodPost)
	api.Handle("/users/{id}", handleGetUser(logger, svc)).Methods(http.MethodGet)
}
