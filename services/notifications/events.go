package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/daprshop/daprshop/internal/cloudevent"
)

// handleUserRegistered welcomes a new user, once per event.
func handleUserRegistered(logger *slog.Logger, svc *service) http.Handler {
	return cloudevent.Handler(logger, "user.registered", func(ctx context.Context, ev cloudevent.Event, data userRegistered) (bool, error) {
		return svc.Welcome(ctx, ev.ID, data)
	})
}

// handleOrderFinished tells a user that their order completed or was
// cancelled, once per event (topic is order.completed or order.cancelled).
func handleOrderFinished(logger *slog.Logger, svc *service, topic string) http.Handler {
	return cloudevent.Handler(logger, topic, func(ctx context.Context, ev cloudevent.Event, data orderFinished) (bool, error) {
		return svc.OrderFinished(ctx, ev.ID, data)
	})
}
