package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
)

// HandleHealthz reports that the process is alive. It checks nothing else,
// so that a slow dependency never gets a healthy process restarted.
func HandleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		Respond(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// HandleReadyz reports whether the service can do its work: ready runs the
// checks (its sidecar reachable) with a short deadline.
func HandleReadyz(logger *slog.Logger, ready func(context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			// A check that names its reason for clients (an *apperr.Error)
			// is shown; any other is taken to be the sidecar's.
			msg := "the sidecar is not reachable"
			var ae *apperr.Error
			if errors.As(err, &ae) {
				msg = ae.Msg
			}
			Error(w, r, logger, apperr.Wrap(apperr.Unavailable, err, "not ready: %s", msg))
			return
		}
		Respond(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// AppTokenHeader is the header in which daprd presents the app API token.
const AppTokenHeader = "dapr-api-token"

// RequireAppToken lets a request through only when it carries the app API
// token that daprd sends on every call to its app, so that nothing but the
// app's own sidecar can reach the app's routes. An empty token disables the
// check (a profile without tokens), and says so in the log once.
func RequireAppToken(logger *slog.Logger, token string) func(http.Handler) http.Handler {
	if token == "" {
		logger.WarnContext(context.Background(), "APP_API_TOKEN is not set: routes accept calls from anyone, not just the sidecar")
	}
	return func(next http.Handler) http.Handler {
		if token == "" {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := r.Header.Get(AppTokenHeader)
			if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				Error(w, r, logger, apperr.E(apperr.Unauthenticated, "this route accepts calls from the app's Dapr sidecar only"))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
