package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/daprshop/daprshop/internal/cloudevent"
)

// handleUserRegistered opens a new user's wallet, once per user.
func handleUserRegistered(logger *slog.Logger, svc *service) http.Handler {
	return cloudevent.Handler(logger, "user.registered", func(ctx context.Context, _ cloudevent.Event, data userRegistered) (bool, error) {
		return svc.OpenWallet(ctx, data.UserID)
	})
}
