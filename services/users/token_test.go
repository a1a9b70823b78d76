package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/authtoken"
)

type staticKey []byte

func (k staticKey) Get(context.Context) ([]byte, error) { return k, nil }

func TestJWTIssuerSignsWithTheKeyFromTheStore(t *testing.T) {
	t.Parallel()
	priv := ed25519.NewKeyFromSeed([]byte("users-test-seed-users-test-seed!"))
	b64 := base64.RawURLEncoding.EncodeToString
	jwk := fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","kid":"2026-12","x":%q,"d":%q}`, b64(priv.Public().(ed25519.PublicKey)), b64(priv.Seed()))
	cfg := authtoken.Config{Issuer: "daprshop-users", Audience: "daprshop", TTL: time.Hour}
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)

	tok, _, err := (&jwtIssuer{keys: staticKey(jwk), cfg: cfg}).Issue(context.Background(), "u1", now)
	require.NoError(t, err)
	sub, err := authtoken.Verify(authtoken.VerifyingKeys{"2026-12": priv.Public().(ed25519.PublicKey)}, cfg, tok, now)
	require.NoError(t, err)
	assert.Equal(t, "u1", sub)

	_, _, err = (&jwtIssuer{keys: staticKey("an HS256 secret of old"), cfg: cfg}).Issue(context.Background(), "u1", now)
	assert.ErrorContains(t, err, "signing key: not a JWK", "an old shared secret is refused, not used")
}
