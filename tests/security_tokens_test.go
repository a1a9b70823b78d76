package tests

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Security class: forged and broken tokens.

// secForgedTokens presents JWTs forged, re-signed, mangled or with wrong
// claims: each must be refused before it reaches an order.
func secForgedTokens(t *testing.T, env *secEnv) {
	tally, gw, sc, ada, pb, target := env.tally, env.gw, env.sc, env.ada, env.pb, env.target
	key := jwtSigningKey(t)
	claims := func(change map[string]any, drop ...string) jwt.MapClaims {
		now := time.Now()
		c := jwt.MapClaims{
			"iss": "daprshop-users", "aud": "daprshop", "sub": ada.ID, "jti": uuid.NewString(),
			"exp": now.Add(time.Hour).Unix(), "nbf": now.Unix(), "iat": now.Unix(),
		}
		for k, v := range change {
			c[k] = v
		}
		for _, k := range drop {
			delete(c, k)
		}
		return c
	}
	// sign signs c with method m and key k, naming kid in the header
	// when it is not empty.
	sign := func(m jwt.SigningMethod, k any, kid string, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(m, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(k)
		require.NoError(t, err)
		return s
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, attacker, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	// The shop's public key, which the gateway holds: the material of
	// an algorithm-confusion attack (HS256 "signed" with it).
	shopPub := key.Key.Public().(ed25519.PublicKey)
	shopPubDER, err := x509.MarshalPKIXPublicKey(shopPub)
	require.NoError(t, err)
	shopPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: shopPubDER})

	// The forging itself is right: the same claims, signed as the users
	// service signs, open Ada's account.
	good := sign(jwt.SigningMethodEdDSA, key.Key, key.ID, claims(nil))
	ok := secSend(t, http.MethodGet, gw+"/api/v1/me", secJSON(good), nil)
	require.Equal(t, http.StatusOK, ok.status, "%s", ok.body)
	require.Contains(t, ok.body, ada.ID)

	goodParts := strings.Split(good, ".")
	require.Len(t, goodParts, 3)
	// The signature's last character carries bits of padding: flip
	// one, and a lax base64 decoder reads the same signature.
	sig := []byte(goodParts[2])
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	sig[len(sig)-1] = alphabet[strings.IndexByte(alphabet, sig[len(sig)-1])^1]
	paddingBits := goodParts[0] + "." + goodParts[1] + "." + string(sig)
	none := func(alg string) string {
		return rawJWT(t, map[string]any{"alg": alg, "typ": "JWT", "kid": key.ID}, claims(nil), func(string) []byte { return nil })
	}
	edSigned := func(signingInput string) []byte { return ed25519.Sign(key.Key, []byte(signingInput)) }
	edClaims := func(change map[string]any, drop ...string) string {
		return sign(jwt.SigningMethodEdDSA, key.Key, key.ID, claims(change, drop...))
	}
	now := time.Now()
	tokens := []struct {
		name, token string
	}{
		{"alg none, by the library", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, key.ID, claims(nil))},
		{"alg None", none("None")},
		{"alg nOnE", none("nOnE")},
		{"alg none with the valid signature kept", rawJWT(t, map[string]any{"alg": "none", "typ": "JWT", "kid": key.ID}, claims(nil), func(string) []byte { s, _ := b64.DecodeString(goodParts[2]); return s })},
		{"algorithm confusion: HS256 keyed with the shop's public key", sign(jwt.SigningMethodHS256, []byte(shopPub), key.ID, claims(nil))},
		{"algorithm confusion: HS256 keyed with the shop's public key in PEM", sign(jwt.SigningMethodHS256, shopPubPEM, key.ID, claims(nil))},
		{"algorithm confusion: HS512 keyed with the shop's public key", sign(jwt.SigningMethodHS512, []byte(shopPub), key.ID, claims(nil))},
		{"EdDSA with an attacker's key under the shop's kid", sign(jwt.SigningMethodEdDSA, attacker, key.ID, claims(nil))},
		{"EdDSA with an attacker's key and kid", sign(jwt.SigningMethodEdDSA, attacker, "attacker-1", claims(nil))},
		{"EdDSA with the right key and no kid", sign(jwt.SigningMethodEdDSA, key.Key, "", claims(nil))},
		{"RS256 with an attacker's key", sign(jwt.SigningMethodRS256, rsaKey, key.ID, claims(nil))},
		{"ES256 with an attacker's key", sign(jwt.SigningMethodES256, ecKey, key.ID, claims(nil))},
		{"header RS256, the right key's EdDSA signature", rawJWT(t, map[string]any{"alg": "RS256", "typ": "JWT", "kid": key.ID}, claims(nil), edSigned)},
		{"header Ed25519, the right key's EdDSA signature", rawJWT(t, map[string]any{"alg": "Ed25519", "typ": "JWT", "kid": key.ID}, claims(nil), edSigned)},
		{"HS256 keyed with an RSA public key", sign(jwt.SigningMethodHS256, pubPEM, key.ID, claims(nil))},
		{"HS256 with an empty key", rawJWT(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": key.ID}, claims(nil), hmacSHA256(nil))},
		{"kid and jku pointing elsewhere", rawJWT(t, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": "../../../../dev/null", "jku": "http://203.0.113.1/jwks.json"}, claims(nil), func(in string) []byte { return ed25519.Sign(attacker, []byte(in)) })},
		{"wrong issuer", edClaims(map[string]any{"iss": "evil"})},
		{"no issuer", edClaims(nil, "iss")},
		{"wrong audience", edClaims(map[string]any{"aud": "another-app"})},
		{"no audience", edClaims(nil, "aud")},
		{"expired", edClaims(map[string]any{"exp": now.Add(-2 * time.Minute).Unix(), "iat": now.Add(-time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix()})},
		{"not valid yet", edClaims(map[string]any{"nbf": now.Add(5 * time.Minute).Unix()})},
		{"issued in the future", edClaims(map[string]any{"iat": now.Add(5 * time.Minute).Unix()})},
		{"no expiry", edClaims(nil, "exp")},
		{"no nbf", edClaims(nil, "nbf")},
		{"no iat", edClaims(nil, "iat")},
		{"no subject", edClaims(nil, "sub")},
		{"subject not a user id", edClaims(map[string]any{"sub": "admin"})},
		{"subject in upper case", edClaims(map[string]any{"sub": strings.ToUpper(ada.ID)})},
		{"signature with other padding bits", paddingBits},
		{"padded base64", good + "="},
		{"two tokens", good + " " + good},
		{"five segments", good + "." + goodParts[1] + "." + goodParts[2]},
	}
	for _, tt := range tokens {
		h := secJSON(tt.token)
		h["Idempotency-Key"] = uuid.NewString()
		refused := func(t *testing.T, a secAnswer) {
			t.Helper()
			assertProblem(t, http.StatusUnauthorized, a)
			assert.Contains(t, a.header.Get("WWW-Authenticate"), "Bearer")
			assert.NotContains(t, a.body, `"user_id"`, "no order in the answer")
		}
		tally.attempt(t, tt.name+": GET /api/v1/orders", func(t *testing.T) {
			refused(t, secSend(t, http.MethodGet, gw+"/api/v1/orders", h, nil))
		})
		tally.attempt(t, tt.name+": POST /api/v1/orders", func(t *testing.T) {
			before := knownOrders(t, sc, ada)
			refused(t, secSend(t, http.MethodPost, gw+"/api/v1/orders", h, strings.NewReader(secLineOf(pb, 1))))
			assert.Equal(t, before, orderIDs(myOrders(t, ada)), "no order was placed for Ada")
		})
		tally.attempt(t, tt.name+": DELETE /api/v1/orders/{id}", func(t *testing.T) {
			refused(t, secSend(t, http.MethodDelete, gw+"/api/v1/orders/"+target.ID, h, nil))
		})
	}
}
