package authtoken

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fuzzKey is a fixed Ed25519 key, so the corpus stays meaningful.
var fuzzKey = SigningKey{ID: "fuzz", Key: ed25519.NewKeyFromSeed([]byte("fuzz-seed-fuzz-seed-fuzz-seed-32"))}

// FuzzVerify checks that no bearer token, however hostile, is accepted
// unless it is exactly one we signed, and that every refusal wraps
// ErrInvalid (a 401, never a server fault).
func FuzzVerify(f *testing.F) {
	keys := VerifyingKeys{fuzzKey.ID: fuzzKey.Key.Public().(ed25519.PublicKey)}
	cfg := Config{Issuer: "daprshop-users", Audience: "daprshop", TTL: time.Hour}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	valid, _, err := Issue(fuzzKey, cfg, "0b6c3f4e-6a8e-4a4b-9a57-3f0c2a8b9d11", now)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	f.Add(valid)
	f.Add(respell(valid))
	f.Add(valid[:len(valid)-4] + "\n" + valid[len(valid)-4:])
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + ".")
	f.Add("eyJhbGciOiJIUzI1NiIsImtpZCI6ImZ1enoiLCJ0eXAiOiJKV1QifQ." + parts[1] + "." + parts[2])
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		sub, err := Verify(keys, cfg, token, now)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify(%q): %v does not wrap ErrInvalid", token, err)
			}
			return
		}
		// Accepted: the token must be exactly header.payload.signature with
		// our key's signature, in canonical base64 (one spelling).
		dot := strings.LastIndex(token, ".")
		sig, derr := base64.RawURLEncoding.Strict().DecodeString(token[dot+1:])
		if derr != nil || !ed25519.Verify(keys[fuzzKey.ID], []byte(token[:dot]), sig) || base64.RawURLEncoding.EncodeToString(sig) != token[dot+1:] {
			t.Fatalf("Verify accepted a token we did not sign: %q (subject %q)", token, sub)
		}
	})
}

// respell changes the unused trailing bits of a token's signature: the
// same bytes, spelled differently.
func respell(token string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, token[len(token)-1])
	return token[:len(token)-1] + string(alphabet[last^1])
}

func TestVerifyRefusesAnotherSpellingOfTheSignature(t *testing.T) {
	t.Parallel()
	keys := VerifyingKeys{fuzzKey.ID: fuzzKey.Key.Public().(ed25519.PublicKey)}
	cfg := Config{Issuer: "daprshop-users", Audience: "daprshop", TTL: time.Hour}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tok, _, err := Issue(fuzzKey, cfg, "0b6c3f4e-6a8e-4a4b-9a57-3f0c2a8b9d11", now)
	require.NoError(t, err)
	_, err = Verify(keys, cfg, tok, now)
	require.NoError(t, err, "the token itself")
	_, err = Verify(keys, cfg, respell(tok), now)
	assert.ErrorIs(t, err, ErrInvalid, "a respelled signature")
}
