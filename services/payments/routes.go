package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/faults"
	"github.com/daprshop/daprshop/internal/web"
)

// addRoutes registers the whole API surface of the service, event routes
// included (dapr/resources/subscriptions.yaml points at them).
func addRoutes(r *mux.Router, logger *slog.Logger, svc *service, f faults.Faults, ready func(context.Context) error, appToken string) {
	r.Handle("/healthz", web.HandleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", web.HandleReadyz(logger, ready)).Methods(http.MethodGet)

	// Every route but health answers only the app's own sidecar.
	protect := web.RequireAppToken(logger, appToken)
	r.Handle("/users/{id}/wallet", protect(handleGetWallet(logger, svc))).Methods(http.MethodGet)
	r.Handle("/events/user-registered", protect(handleUserRegistered(logger, svc))).Methods(http.MethodPost)

	// The checkout saga's branch (dapr/config/payments.yaml lets orders
	// POST to the first two); faults, when configured, hit these two only.
	r.Handle("/charges/{order}", protect(f.Wrap(logger, stepCharge)(handleChargeOrder(logger, svc)))).Methods(http.MethodPost)
	r.Handle("/charges/{order}/refund", protect(f.Wrap(logger, stepRefund)(handleRefundOrder(logger, svc)))).Methods(http.MethodPost)
	r.Handle("/charges/{order}", protect(handleGetCharge(logger, svc))).Methods(http.MethodGet)
	r.Handle("/merchant", protect(handleGetMerchant(logger, svc))).Methods(http.MethodGet)
}

// The steps faults can be injected into (FAULT_STEP).
const (
	stepCharge = "charge"
	stepRefund = "refund"
)
