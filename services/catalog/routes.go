package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/faults"
	"github.com/daprshop/daprshop/internal/web"
)

// addRoutes registers the whole API surface of the service.
func addRoutes(r *mux.Router, logger *slog.Logger, svc *service, res *reservations, f faults.Faults, ready func(context.Context) error, appToken string) {
	r.Handle("/healthz", web.HandleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", web.HandleReadyz(logger, ready)).Methods(http.MethodGet)

	// Every route but health answers only the app's own sidecar.
	protect := web.RequireAppToken(logger, appToken)
	r.Handle("/products", protect(handleListProducts(logger, svc))).Methods(http.MethodGet)
	r.Handle("/products/{id}", protect(handleGetProduct(logger, svc))).Methods(http.MethodGet)

	// The catalog's steps of the checkout saga (TCC), and what a checker
	// of the stock invariant reads.
	r.Handle("/reservations", protect(handleListReservations(logger, res))).Methods(http.MethodGet)
	r.Handle("/reservations/{order}", protect(handleGetReservation(logger, res))).Methods(http.MethodGet)
	r.Handle("/reservations/{order}/try", protect(f.Wrap(logger, "try")(handleTryReservation(logger, res)))).Methods(http.MethodPost)
	r.Handle("/reservations/{order}/confirm", protect(f.Wrap(logger, "confirm")(handleConfirmReservation(logger, res)))).Methods(http.MethodPost)
	r.Handle("/reservations/{order}/cancel", protect(f.Wrap(logger, "cancel")(handleCancelReservation(logger, res)))).Methods(http.MethodPost)
	r.Handle("/stock", protect(handleListStock(logger, res))).Methods(http.MethodGet)

	// Goods received: no app of the system may call it through catalog's
	// sidecar (its access control admits none); an operator's tool or a
	// back-office app with a policy of its own would.
	r.Handle("/products/{id}/receipts/{receipt}", protect(handleReceiveStock(logger, svc))).Methods(http.MethodPut)
}
