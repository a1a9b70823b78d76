package main

import (
	"context"
	"fmt"
	"time"

	"github.com/daprshop/daprshop/internal/authtoken"
)

var _ tokenIssuer = (*jwtIssuer)(nil)

// keySource gives the signing key (from the secret store, through the
// sidecar).
type keySource interface {
	Get(ctx context.Context) ([]byte, error)
}

// jwtIssuer signs access tokens with the key from the secret store.
type jwtIssuer struct {
	keys keySource
	cfg  authtoken.Config
}

func (j *jwtIssuer) Issue(ctx context.Context, subject string, now time.Time) (string, time.Time, error) {
	key, err := j.keys.Get(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing key: %w", err)
	}
	return authtoken.Issue(key, j.cfg, subject, now)
}
