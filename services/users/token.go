package main

import (
	"context"
	"fmt"
	"time"

	"github.com/daprshop/daprshop/internal/authtoken"
)

var _ tokenIssuer = (*jwtIssuer)(nil)

// keySource gives the signing key, a JWK (from the secret store, through
// the sidecar; read again now and then, so a new key is taken up without a
// restart).
type keySource interface {
	Get(ctx context.Context) ([]byte, error)
}

// jwtIssuer signs access tokens with the Ed25519 key from the secret store,
// naming it in each token's kid.
type jwtIssuer struct {
	keys keySource
	cfg  authtoken.Config
}

func (j *jwtIssuer) Issue(ctx context.Context, subject string, now time.Time) (string, time.Time, error) {
	raw, err := j.keys.Get(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing key: %w", err)
	}
	key, err := authtoken.ParseSigningKey(raw)
	if err != nil {
		return "", time.Time{}, err
	}
	return authtoken.Issue(key, j.cfg, subject, now)
}
