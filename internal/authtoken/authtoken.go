// Package authtoken issues and verifies the shop's access tokens: JWTs
// signed with HMAC-SHA256 under a key from the Dapr secret store. The users
// service issues them at login; the gateway verifies them on every request.
//
// Verification pins the algorithm (so "none" and RS256/HS256 confusion are
// refused), requires exp, nbf, iat, iss, aud and sub, and allows at most
// 60 s of clock skew.
package authtoken

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// MinKeyBytes is the shortest signing key accepted: HS256 wants 256 bits.
const MinKeyBytes = 32

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

// Issue signs a token for subject, valid from now for cfg.TTL.
func Issue(key []byte, cfg Config, subject string, now time.Time) (string, time.Time, error) {
	if len(key) < MinKeyBytes {
		return "", time.Time{}, fmt.Errorf("signing key has %d bytes; at least %d needed", len(key), MinKeyBytes)
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
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return signed, exp, nil
}

// Verify checks a token and returns its subject. Every refusal wraps
// ErrInvalid; the reason is for logs, not for clients.
func Verify(key []byte, cfg Config, token string, now time.Time) (string, error) {
	if len(key) < MinKeyBytes {
		return "", fmt.Errorf("signing key has %d bytes; at least %d needed", len(key), MinKeyBytes)
	}
	// Only the compact form's own characters: base64 decoders skip \r and
	// \n, which would give one token many spellings.
	if i := strings.IndexFunc(token, func(r rune) bool { return !isTokenChar(r) }); i >= 0 {
		return "", fmt.Errorf("%w: a character outside base64url at byte %d", ErrInvalid, i)
	}
	var claims jwt.RegisteredClaims
	parsed, err := jwt.ParseWithClaims(token, &claims,
		func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(MaxLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
		// Strict base64: otherwise a signature with other trailing bits
		// (as the cursor fuzzer found for our own cursors) also verifies, so one token has many
		// spellings and a deny-list by token string could be sidestepped.
		jwt.WithStrictDecoding(),
	)
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
