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

	// Every route but health answers only the app's own sidecar.
	protect := web.RequireAppToken(logger, appToken)
	r.Handle("/products", protect(handleListProducts(logger, svc))).Methods(http.MethodGet)
	r.Handle("/products/{id}", protect(handleGetProduct(logger, svc))).Methods(http.MethodGet)
}
