// Package authtoken issues and verifies the shop's access tokens: JWTs
// signed with Ed25519 (EdDSA). The users service holds the private key and
// issues them at login; the gateway, which verifies them on every request,
// holds only the public keys, so the one public-facing app cannot mint a
// token. Every token names its key (kid), so a new key can be rolled in
// while tokens signed by the previous one stay valid until they expire.
//
// Verification pins the algorithm (so "none", HS256 keyed with the public
// key and RS256 are refused), requires a known kid, exp, nbf, iat, iss, aud
// and sub, and allows at most 60 s of clock skew.
package authtoken

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// MaxLeeway bounds the clock skew tolerated between issuer and verifier.
const MaxLeeway = 60 * time.Second

// Config names the issuer and audience and how long a token lives.
type Config struct {
	Issuer   string
	Audience string
	TTL      time.Duration
}

// ErrInvalid wraps every reason a token is refused.
var ErrInvalid = errors.New("invalid token")

// ErrUnknownKey is the refusal of a token signed by a key the verifier
// does not hold (yet): the caller may refresh its keys once and try again.
var ErrUnknownKey = fmt.Errorf("%w: unknown key id", ErrInvalid)

// SigningKey is the private key tokens are signed with, and its id.
type SigningKey struct {
	ID  string
	Key ed25519.PrivateKey
}

// VerifyingKeys are the public keys a token may be signed by, by key id.
type VerifyingKeys map[string]ed25519.PublicKey

// Issue signs a token for subject, valid from now for cfg.TTL.
func Issue(k SigningKey, cfg Config, subject string, now time.Time) (string, time.Time, error) {
	if k.ID == "" || len(k.Key) != ed25519.PrivateKeySize {
		return "", time.Time{}, errors.New("signing key: want an Ed25519 private key with an id")
	}
	exp := now.Add(cfg.TTL).Truncate(time.Second)
	claims := jwt.RegisteredClaims{
		Issuer:    cfg.Issuer,
		Subject:   subject,
		Audience:  jwt.ClaimStrings{cfg.Audience},
		ExpiresAt: jwt.NewNumericDate(exp),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        uuid.NewString(),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = k.ID
	signed, err := tok.SignedString(k.Key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return signed, exp, nil
}

// Verify checks a token against keys and returns its subject. Every
// refusal wraps ErrInvalid (a token signed by a key not in keys wraps
// ErrUnknownKey too); the reason is for logs, not for clients.
func Verify(keys VerifyingKeys, cfg Config, token string, now time.Time) (string, error) {
	// Only the compact form's own characters: base64 decoders skip \r and
	// \n, which would give one token many spellings.
	if i := strings.IndexFunc(token, func(r rune) bool { return !isTokenChar(r) }); i >= 0 {
		return "", fmt.Errorf("%w: a character outside base64url at byte %d", ErrInvalid, i)
	}
	var claims jwt.RegisteredClaims
	parsed, err := jwt.ParseWithClaims(token, &claims,
		func(t *jwt.Token) (any, error) {
			kid, _ := t.Header["kid"].(string)
			key, ok := keys[kid]
			if !ok {
				return nil, fmt.Errorf("%w %q", ErrUnknownKey, kid)
			}
			return key, nil
		},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(MaxLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
		// Strict base64: otherwise a signature with other trailing bits
		// also verifies, so one token has many spellings and a deny-list
		// by token string could be sidestepped.
		jwt.WithStrictDecoding(),
	)
	if errors.Is(err, ErrUnknownKey) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if !parsed.Valid {
		return "", ErrInvalid
	}
	// The library checks nbf and iat only when present; ours always carry
	// both.
	if claims.NotBefore == nil {
		return "", fmt.Errorf("%w: no nbf claim", ErrInvalid)
	}
	if claims.IssuedAt == nil {
		return "", fmt.Errorf("%w: no iat claim", ErrInvalid)
	}
	if claims.Subject == "" {
		return "", fmt.Errorf("%w: no sub claim", ErrInvalid)
	}
	return claims.Subject, nil
}

// isTokenChar reports whether r may appear in a compact JWS.
func isTokenChar(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}
