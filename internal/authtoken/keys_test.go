package authtoken_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/authtoken"
)

func TestParseKeys(t *testing.T) {
	t.Parallel()
	k := newKey(t, "k1")
	b64 := base64.RawURLEncoding.EncodeToString
	x := b64(k.Key.Public().(ed25519.PublicKey))
	d := b64(k.Key.Seed())
	other := b64(newKey(t, "k2").Key.Public().(ed25519.PublicKey))

	t.Run("signing key", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name, jwk, wantErr string
		}{
			{name: "valid", jwk: fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","kid":"k1","x":%q,"d":%q}`, x, d)},
			{name: "no private part", jwk: fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","kid":"k1","x":%q}`, x), wantErr: "d is not a base64url Ed25519 seed"},
			{name: "x of another key", jwk: fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","kid":"k1","x":%q,"d":%q}`, other, d), wantErr: "x is not the public key of d"},
			{name: "no kid", jwk: fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","x":%q,"d":%q}`, x, d), wantErr: "without a kid"},
			{name: "another curve", jwk: fmt.Sprintf(`{"kty":"OKP","crv":"X25519","kid":"k1","x":%q,"d":%q}`, x, d), wantErr: "want kty OKP and crv Ed25519"},
			{name: "not JSON", jwk: "local-only-jwt-signing-key", wantErr: "not a JWK"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				got, err := authtoken.ParseSigningKey([]byte(tt.jwk))
				if tt.wantErr != "" {
					assert.ErrorContains(t, err, tt.wantErr)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, k, got)
			})
		}
	})

	t.Run("verifying keys", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name, jwks, wantErr string
			wantIDs             []string
		}{
			{name: "two keys, for a rollover", jwks: fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":%q},{"kty":"OKP","crv":"Ed25519","kid":"k2","x":%q}]}`, x, other), wantIDs: []string{"k1", "k2"}},
			{name: "a private key in the set", jwks: fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":%q,"d":%q}]}`, x, d), wantErr: "holds its private part"},
			{name: "a kid twice", jwks: fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":%q},{"kty":"OKP","crv":"Ed25519","kid":"k1","x":%q}]}`, x, other), wantErr: `kid "k1" appears twice`},
			{name: "empty", jwks: `{"keys":[]}`, wantErr: "the set is empty"},
			{name: "x not a key", jwks: `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"AAAA"}]}`, wantErr: "x is not a base64url Ed25519 public key"},
			{name: "not JSON", jwks: "nope", wantErr: "not a JWK Set"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				got, err := authtoken.ParseVerifyingKeys([]byte(tt.jwks))
				if tt.wantErr != "" {
					assert.ErrorContains(t, err, tt.wantErr)
					return
				}
				require.NoError(t, err)
				var ids []string
				for id := range got {
					ids = append(ids, id)
				}
				assert.ElementsMatch(t, tt.wantIDs, ids)
				assert.Equal(t, k.Key.Public(), got["k1"])
			})
		}
	})
}
