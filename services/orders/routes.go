package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/web"
)

// addRoutes registers the whole API surface of the service. The user id in
// every path is the caller, as the gateway took it from a verified token.
func addRoutes(r *mux.Router, logger *slog.Logger, svc *service, ready func(context.Context) error, appToken string) {
	r.Handle("/healthz", web.HandleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", web.HandleReadyz(logger, ready)).Methods(http.MethodGet)

	// Every route but health answers only the app's own sidecar.
	protect := web.RequireAppToken(logger, appToken)
	r.Handle("/users/{user}/orders", protect(handlePlaceOrder(logger, svc))).Methods(http.MethodPost)
	r.Handle("/users/{user}/orders", protect(handleListOrders(logger, svc))).Methods(http.MethodGet)
	r.Handle("/users/{user}/orders/{id}", protect(handleGetOrder(logger, svc))).Methods(http.MethodGet)
	r.Handle("/users/{user}/orders/{id}", protect(handleCancelOrder(logger, svc))).Methods(http.MethodDelete)
}
