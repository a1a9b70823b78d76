package authtoken_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/authtoken"
)

var (
	key  = []byte("0123456789abcdef0123456789abcdef-test-key")
	cfg  = authtoken.Config{Issuer: "daprshop-users", Audience: "daprshop", TTL: time.Hour}
	now  = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	user = "3f8e2a1c-4b5d-4e6f-8a9b-0c1d2e3f4a5b"
)

func sign(t *testing.T, method jwt.SigningMethod, k any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(k)
	require.NoError(t, err)
	return s
}

func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": cfg.Issuer, "aud": cfg.Audience, "sub": user,
		"exp": now.Add(time.Hour).Unix(), "nbf": now.Unix(), "iat": now.Unix(),
	}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for kk, vv := range c {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestIssueThenVerify(t *testing.T) {
	t.Parallel()
	tok, exp, err := authtoken.Issue(key, cfg, user, now)
	require.NoError(t, err)
	assert.Equal(t, now.Add(time.Hour), exp)
	sub, err := authtoken.Verify(key, cfg, tok, now.Add(30*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, user, sub)
}

func TestVerifyRefusesAttacks(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&rsaKey.PublicKey))})
	unsigned := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
		require.NoError(t, err)
		return s
	}
	valid := sign(t, jwt.SigningMethodHS256, key, validClaims())
	parts := strings.Split(valid, ".")

	tests := []struct {
		name  string
		token string
		at    time.Time
	}{
		{"alg none", unsigned(validClaims()), now},
		{"alg NONE, upper case", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"NONE","typ":"JWT"}`)) + "." + parts[1] + ".", now},
		{"other key", sign(t, jwt.SigningMethodHS256, []byte("another-key-another-key-another-key!!"), validClaims()), now},
		{"HS512 with the right key", sign(t, jwt.SigningMethodHS512, key, validClaims()), now},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, validClaims()), now},
		{"algorithm confusion: HS256 keyed with the public key", sign(t, jwt.SigningMethodHS256, pubPEM, validClaims()), now},
		{"expired", valid, now.Add(time.Hour + authtoken.MaxLeeway + time.Second)},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, key, with(validClaims(), "nbf", now.Add(5*time.Minute).Unix())), now},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, key, with(validClaims(), "iat", now.Add(5*time.Minute).Unix())), now},
		{"no expiry", sign(t, jwt.SigningMethodHS256, key, with(validClaims(), "exp", nil)), now},
		{"no nbf", sign(t, jwt.SigningMethodHS256, key, with(validClaims(), "nbf", nil)), now},
		{"no iat", sign(t, jwt.SigningMethodHS256, key, with(validClaims(), "iat", nil)), now},
		{"no subject", sign(t, jwt.SigningMethodHS256, key, with(validClaims(), "sub", nil)), now},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, key, with(validClaims(), "iss", "evil")), now},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, key, with(validClaims(), "aud", "another-app")), now},
		{"no audience", sign(t, jwt.SigningMethodHS256, key, with(validClaims(), "aud", nil)), now},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","iss":"daprshop-users","aud":"daprshop","exp":9999999999,"nbf":0,"iat":0}`)) + "." + parts[2], now},
		{"stripped signature", parts[0] + "." + parts[1] + ".", now},
		{"garbage", "not.a.token", now},
		{"empty", "", now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := authtoken.Verify(key, cfg, tt.token, tt.at)
			assert.ErrorIs(t, err, authtoken.ErrInvalid)
		})
	}
}

func TestVerifyToleratesSmallSkew(t *testing.T) {
	t.Parallel()
	tok := sign(t, jwt.SigningMethodHS256, key, with(validClaims(), "nbf", now.Add(30*time.Second).Unix()))
	_, err := authtoken.Verify(key, cfg, tok, now)
	assert.NoError(t, err, "30 s of skew is within the leeway")
	_, err = authtoken.Verify(key, cfg, sign(t, jwt.SigningMethodHS256, key, validClaims()), now.Add(time.Hour+30*time.Second))
	assert.NoError(t, err, "expired 30 s ago is within the leeway")
}

func TestShortKeysRefused(t *testing.T) {
	t.Parallel()
	_, _, err := authtoken.Issue([]byte("short"), cfg, user, now)
	assert.Error(t, err)
	_, err = authtoken.Verify([]byte("short"), cfg, "x", now)
	assert.Error(t, err)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
