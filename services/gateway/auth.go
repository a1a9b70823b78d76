package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
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

// keySource gives the public keys tokens may be signed by, a JWK Set (from
// the secret store, through the sidecar): Get as kept for a while, Refresh
// read again now (rate limited).
type keySource interface {
	Get(ctx context.Context) ([]byte, error)
	Refresh(ctx context.Context) ([]byte, error)
}

// keyring parses the key set once per value read, not once per request.
type keyring struct {
	src  keySource
	mu   sync.Mutex
	raw  []byte
	keys authtoken.VerifyingKeys
}

func (k *keyring) parse(raw []byte, err error) (authtoken.VerifyingKeys, error) {
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys != nil && bytes.Equal(raw, k.raw) {
		return k.keys, nil
	}
	keys, err := authtoken.ParseVerifyingKeys(raw)
	if err != nil {
		return nil, err
	}
	k.raw, k.keys = raw, keys
	return keys, nil
}

// verify checks token against the keys held; a token signed by a key not
// among them (a rollover the gateway has not seen yet) makes it read the
// keys again once and retry.
func (k *keyring) verify(ctx context.Context, cfg authtoken.Config, token string, now time.Time) (string, error) {
	keys, err := k.parse(k.src.Get(ctx))
	if err != nil {
		return "", apperr.Wrap(apperr.Unavailable, err, "authentication is unavailable; try again later")
	}
	sub, err := authtoken.Verify(keys, cfg, token, now)
	if !errors.Is(err, authtoken.ErrUnknownKey) {
		return sub, err
	}
	if keys, rerr := k.parse(k.src.Refresh(ctx)); rerr == nil {
		return authtoken.Verify(keys, cfg, token, now)
	}
	return sub, err
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
	ring := &keyring{src: keys}
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
			sub, err := ring.verify(r.Context(), cfg, strings.TrimSpace(token), now())
			if apperr.Is(err, apperr.Unavailable) {
				web.Error(w, r, logger, err)
				return
			}
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
