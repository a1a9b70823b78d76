package main

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/daprshop/daprshop/internal/cloudevent"
)

// handleUserRegistered opens a new user's wallet. It answers SUCCESS when
// the wallet is opened or was opened before (a redelivery), DROP for an
// event that can never be applied, and RETRY when the store is unavailable.
func handleUserRegistered(logger *slog.Logger, svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev userRegistered
		meta, err := cloudevent.Decode(r, &ev)
		if err == nil {
			err = ev.validate()
		}
		if err == nil {
			var opened bool
			opened, err = svc.OpenWallet(r.Context(), ev.UserID)
			if err == nil {
				logger.InfoContext(r.Context(), "event applied", "event_id", meta.ID, "user_id", ev.UserID, "duplicate", !opened)
				cloudevent.Respond(w, cloudevent.Success)
				return
			}
		}
		if errors.Is(err, cloudevent.ErrPoison) {
			logger.WarnContext(r.Context(), "event dropped", "event_id", meta.ID, "error", err.Error())
			cloudevent.Respond(w, cloudevent.Drop)
			return
		}
		logger.ErrorContext(r.Context(), "event not applied; dapr will redeliver it", "event_id", meta.ID, "error", err.Error())
		cloudevent.Respond(w, cloudevent.Retry)
	})
}
