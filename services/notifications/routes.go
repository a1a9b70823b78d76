package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/cloudevent"
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
	r.Handle("/events/order-completed", protect(handleOrderFinished(logger, svc, "order.completed"))).Methods(http.MethodPost)
	r.Handle("/events/order-cancelled", protect(handleOrderFinished(logger, svc, "order.cancelled"))).Methods(http.MethodPost)
	// Every dead-letter topic of the system ends here, one route each
	// (dapr/resources/subscriptions.yaml; a test keeps the two in step).
	for _, dlq := range deadLetterTopics {
		r.Handle("/events/dead-letters/"+dlq, protect(cloudevent.DeadLetterHandler(logger, dlq))).Methods(http.MethodPost)
	}
}

// deadLetterTopics are the dead-letter topics of every subscription in the
// system: notifications keeps watch over all of them.
var deadLetterTopics = []string{
	"user.registered.notifications.deadletter",
	"user.registered.payments.deadletter",
	"order.completed.notifications.deadletter",
	"order.cancelled.notifications.deadletter",
	"order.completed.recommendations.deadletter",
}
