package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/web"
)

// addRoutes registers the whole API surface of the service, event routes
// included (dapr/resources/subscriptions.yaml points at them).
func addRoutes(r *mux.Router, logger *slog.Logger, svc *service, ready func(context.Context) error, appToken string) {
	r.Handle("/healthz", web.HandleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", web.HandleReadyz(logger, ready)).Methods(http.MethodGet)

	// Every route but health answers only the app's own sidecar. (Wrapped
	// one by one: a gorilla/mux subrouter would answer 404 for a wrong method.)
	protect := web.RequireAppToken(logger, appToken)
	r.Handle("/users/{id}/notifications", protect(handleListNotifications(logger, svc))).Methods(http.MethodGet)
	r.Handle("/events/user-registered", protect(handleUserRegistered(logger, svc))).Methods(http.MethodPost)
	r.Handle("/events/order-completed", protect(handleOrderFinished(logger, svc))).Methods(http.MethodPost)
	r.Handle("/events/order-cancelled", protect(handleOrderFinished(logger, svc))).Methods(http.MethodPost)
}
