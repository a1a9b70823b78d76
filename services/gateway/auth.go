package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/authtoken"
	"github.com/daprshop/daprshop/internal/web"
)

// userHeader carries the authenticated user's id to the services. The
// gateway removes any copy a client sends and sets it only after verifying
// a token; services trust it because only their sidecar can reach them.
const userHeader = "X-User-Id"

type principalKey struct{}

// principal returns the id of the authenticated user, if any.
func principal(ctx context.Context) (string, bool) {
	sub, ok := ctx.Value(principalKey{}).(string)
	return sub, ok
}

// keySource gives the token signing key.
type keySource interface {
	Get(ctx context.Context) ([]byte, error)
}

// stripIdentity removes identity headers a client might forge, on every
// request, before anything else looks at it.
func stripIdentity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del(userHeader)
		next.ServeHTTP(w, r)
	})
}

// authenticate lets a request through only with a valid bearer token, and
// puts its subject in the context and in userHeader.
func authenticate(logger *slog.Logger, keys keySource, cfg authtoken.Config, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			refuse := func(msg string, cause error) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="daprshop", error="invalid_token"`)
				web.Error(w, r, logger, apperr.Wrap(apperr.Unauthenticated, cause, "%s", msg))
			}
			scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
				refuse("a bearer token is required: log in with POST /api/v1/sessions", errors.New("no bearer token"))
				return
			}
			key, err := keys.Get(r.Context())
			if err != nil {
				web.Error(w, r, logger, apperr.Wrap(apperr.Unavailable, err, "authentication is unavailable; try again later"))
				return
			}
			sub, err := authtoken.Verify(key, cfg, strings.TrimSpace(token), now())
			if err != nil {
				refuse("the token is invalid or expired", err)
				return
			}
			if u, perr := uuid.Parse(sub); perr != nil || u.String() != sub {
				refuse("the token is invalid or expired", errors.New("subject is not a user id"))
				return
			}
			r.Header.Set(userHeader, sub)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, sub)))
		})
	}
}
