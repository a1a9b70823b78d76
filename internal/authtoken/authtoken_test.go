package authtoken_test

import (
	"crypto/ed25519"
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
	cfg  = authtoken.Config{Issuer: "daprshop-users", Audience: "daprshop", TTL: time.Hour}
	now  = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	user = "3f8e2a1c-4b5d-4e6f-8a9b-0c1d2e3f4a5b"
)

func newKey(t *testing.T, id string) authtoken.SigningKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return authtoken.SigningKey{ID: id, Key: priv}
}

func publicOf(keys ...authtoken.SigningKey) authtoken.VerifyingKeys {
	out := authtoken.VerifyingKeys{}
	for _, k := range keys {
		out[k.ID] = k.Key.Public().(ed25519.PublicKey)
	}
	return out
}

// sign signs claims with method and key k, with header kid when not empty.
func sign(t *testing.T, method jwt.SigningMethod, k any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(k)
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
	k := newKey(t, "k1")
	tok, exp, err := authtoken.Issue(k, cfg, user, now)
	require.NoError(t, err)
	assert.Equal(t, now.Add(time.Hour), exp)
	sub, err := authtoken.Verify(publicOf(k), cfg, tok, now.Add(30*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, user, sub)
	header, _, _ := strings.Cut(tok, ".")
	assert.JSONEq(t, `{"alg":"EdDSA","kid":"k1","typ":"JWT"}`, string(must(base64.RawURLEncoding.DecodeString(header))))
}

// A rollover: the verifier holds the old and the new public key while
// users switches to the new one; a session signed by the old key lives on
// until the old key leaves the set (after the tokens' lifetime).
func TestRollover(t *testing.T) {
	t.Parallel()
	old, next := newKey(t, "2026-11"), newKey(t, "2026-12")
	before, _, err := authtoken.Issue(old, cfg, user, now)
	require.NoError(t, err)
	after, _, err := authtoken.Issue(next, cfg, user, now)
	require.NoError(t, err)

	both := publicOf(old, next)
	for name, tok := range map[string]string{"signed by the old key": before, "signed by the new key": after} {
		_, err := authtoken.Verify(both, cfg, tok, now)
		assert.NoError(t, err, name)
	}
	_, err = authtoken.Verify(publicOf(next), cfg, before, now)
	assert.ErrorIs(t, err, authtoken.ErrUnknownKey, "once the old key is gone")
	_, err = authtoken.Verify(publicOf(old), cfg, after, now)
	assert.ErrorIs(t, err, authtoken.ErrUnknownKey, "before the verifier has the new key: refresh and retry")
}

func TestVerifyRefusesAttacks(t *testing.T) {
	t.Parallel()
	k := newKey(t, "k1")
	keys := publicOf(k)
	pub := k.Key.Public().(ed25519.PublicKey)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(pub))})
	unsigned := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
		require.NoError(t, err)
		return s
	}
	valid := sign(t, jwt.SigningMethodEdDSA, k.Key, "k1", validClaims())
	parts := strings.Split(valid, ".")
	ed := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodEdDSA, k.Key, "k1", c) }

	tests := []struct {
		name  string
		token string
		at    time.Time
	}{
		{"alg none", unsigned(validClaims()), now},
		{"alg NONE, upper case", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"NONE","typ":"JWT","kid":"k1"}`)) + "." + parts[1] + ".", now},
		{"another Ed25519 key under the known kid", sign(t, jwt.SigningMethodEdDSA, newKey(t, "k1").Key, "k1", validClaims()), now},
		{"no kid", sign(t, jwt.SigningMethodEdDSA, k.Key, "", validClaims()), now},
		{"an unknown kid", sign(t, jwt.SigningMethodEdDSA, newKey(t, "k2").Key, "k2", validClaims()), now},
		{"kid pointing at a file", sign(t, jwt.SigningMethodEdDSA, k.Key, "../../../../dev/null", validClaims()), now},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", validClaims()), now},
		{"algorithm confusion: HS256 keyed with the public key", sign(t, jwt.SigningMethodHS256, []byte(pub), "k1", validClaims()), now},
		{"algorithm confusion: HS256 keyed with the public key's PEM", sign(t, jwt.SigningMethodHS256, pubPEM, "k1", validClaims()), now},
		{"expired", valid, now.Add(time.Hour + authtoken.MaxLeeway + time.Second)},
		{"not yet valid", ed(with(validClaims(), "nbf", now.Add(5*time.Minute).Unix())), now},
		{"issued in the future", ed(with(validClaims(), "iat", now.Add(5*time.Minute).Unix())), now},
		{"no expiry", ed(with(validClaims(), "exp", nil)), now},
		{"no nbf", ed(with(validClaims(), "nbf", nil)), now},
		{"no iat", ed(with(validClaims(), "iat", nil)), now},
		{"no subject", ed(with(validClaims(), "sub", nil)), now},
		{"wrong issuer", ed(with(validClaims(), "iss", "evil")), now},
		{"wrong audience", ed(with(validClaims(), "aud", "another-app")), now},
		{"no audience", ed(with(validClaims(), "aud", nil)), now},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","iss":"daprshop-users","aud":"daprshop","exp":9999999999,"nbf":0,"iat":0}`)) + "." + parts[2], now},
		{"stripped signature", parts[0] + "." + parts[1] + ".", now},
		{"garbage", "not.a.token", now},
		{"empty", "", now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := authtoken.Verify(keys, cfg, tt.token, tt.at)
			assert.ErrorIs(t, err, authtoken.ErrInvalid)
		})
	}
}

func TestVerifyToleratesSmallSkew(t *testing.T) {
	t.Parallel()
	k := newKey(t, "k1")
	tok := sign(t, jwt.SigningMethodEdDSA, k.Key, "k1", with(validClaims(), "nbf", now.Add(30*time.Second).Unix()))
	_, err := authtoken.Verify(publicOf(k), cfg, tok, now)
	assert.NoError(t, err, "30 s of skew is within the leeway")
	_, err = authtoken.Verify(publicOf(k), cfg, sign(t, jwt.SigningMethodEdDSA, k.Key, "k1", validClaims()), now.Add(time.Hour+30*time.Second))
	assert.NoError(t, err, "expired 30 s ago is within the leeway")
}

func TestIssueRefusesAKeyWithoutItsID(t *testing.T) {
	t.Parallel()
	k := newKey(t, "")
	_, _, err := authtoken.Issue(k, cfg, user, now)
	assert.Error(t, err)
	_, _, err = authtoken.Issue(authtoken.SigningKey{ID: "k1"}, cfg, user, now)
	assert.Error(t, err, "no key at all")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
