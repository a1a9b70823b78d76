package main

import (
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/authtoken"
)

// A rollover with the files jwtkeys writes: a token of the old key and one
// of the new both verify against the new set.
func TestRolloverWithTheWrittenKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	oldDir, newDir := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	require.NoError(t, run([]string{"jwtkeys", "-kid", "2026-12", "-out", oldDir}, io.Discard, rand.Reader))
	require.NoError(t, run([]string{"jwtkeys", "-kid", "2027-01", "-out", newDir, "-keep", filepath.Join(oldDir, "jwt-verification-keys")}, io.Discard, rand.Reader))

	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		return b
	}
	cfg := authtoken.Config{Issuer: "i", Audience: "a", TTL: time.Hour}
	now := time.Now()
	keys, err := authtoken.ParseVerifyingKeys(read(filepath.Join(newDir, "jwt-verification-keys")))
	require.NoError(t, err)
	for _, d := range []string{oldDir, newDir} {
		k, err := authtoken.ParseSigningKey(read(filepath.Join(d, "jwt-signing-key")))
		require.NoError(t, err)
		tok, _, err := authtoken.Issue(k, cfg, "u", now)
		require.NoError(t, err)
		_, err = authtoken.Verify(keys, cfg, tok, now)
		assert.NoError(t, err, "a token of key %s", k.ID)
	}
	fi, err := os.Stat(filepath.Join(newDir, "jwt-signing-key"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestRunRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, run([]string{"jwtkeys", "-kid", "k", "-out", filepath.Join(dir, "k")}, io.Discard, rand.Reader))
	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"x","x":"AAAA"}]}`), 0o600))
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no kid", []string{"jwtkeys", "-out", dir}, "-kid and -out are required"},
		{"no folder", []string{"jwtkeys", "-kid", "k"}, "-kid and -out are required"},
		{"a set to keep that is not one", []string{"jwtkeys", "-kid", "k", "-out", dir, "-keep", bad}, "x is not a base64url Ed25519 public key"},
		{"the new kid already in the kept set", []string{"jwtkeys", "-kid", "k", "-out", dir, "-keep", filepath.Join(dir, "k", "jwt-verification-keys")}, `kid "k" appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.ErrorContains(t, run(tt.args, io.Discard, rand.Reader), tt.wantErr)
		})
	}
}
