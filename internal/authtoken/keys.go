package authtoken

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// JWK is an Ed25519 key as a JSON Web Key (RFC 8037): kty OKP, crv
// Ed25519, x the public key, d the private key's seed (base64url).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	Kid string `json:"kid"`
	X   string `json:"x"`
	D   string `json:"d,omitempty"`
}

func (k JWK) public() (ed25519.PublicKey, error) {
	if k.Kty != "OKP" || k.Crv != "Ed25519" {
		return nil, fmt.Errorf("key %q: want kty OKP and crv Ed25519, got %q and %q", k.Kid, k.Kty, k.Crv)
	}
	if k.Kid == "" {
		return nil, errors.New("a key without a kid")
	}
	x, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("key %q: x is not a base64url Ed25519 public key", k.Kid)
	}
	return ed25519.PublicKey(x), nil
}

// KeySet is a JWK Set: the public keys a verifier accepts.
type KeySet struct {
	Keys []JWK `json:"keys"`
}

// PublicJWK is the key's public half, as a verifier holds it.
func (k SigningKey) PublicJWK() JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", Kid: k.ID, X: base64.RawURLEncoding.EncodeToString(k.Key.Public().(ed25519.PublicKey))}
}

// PrivateJWK is the whole key, as the issuer holds it.
func (k SigningKey) PrivateJWK() JWK {
	j := k.PublicJWK()
	j.D = base64.RawURLEncoding.EncodeToString(k.Key.Seed())
	return j
}

// ParseSigningKey reads the private key users signs with: one JWK with d.
// Its x must be the public key of d, so a mismatched pair is refused at
// start rather than turning into tokens no verifier accepts.
func ParseSigningKey(b []byte) (SigningKey, error) {
	var k JWK
	if err := json.Unmarshal(b, &k); err != nil {
		return SigningKey{}, fmt.Errorf("signing key: not a JWK: %w", err)
	}
	pub, err := k.public()
	if err != nil {
		return SigningKey{}, fmt.Errorf("signing key: %w", err)
	}
	seed, err := base64.RawURLEncoding.DecodeString(k.D)
	if err != nil || len(seed) != ed25519.SeedSize {
		return SigningKey{}, fmt.Errorf("signing key %q: d is not a base64url Ed25519 seed", k.Kid)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if !pub.Equal(priv.Public()) {
		return SigningKey{}, fmt.Errorf("signing key %q: x is not the public key of d", k.Kid)
	}
	return SigningKey{ID: k.Kid, Key: priv}, nil
}

// ParseVerifyingKeys reads the public keys a verifier accepts: a JWK Set.
// A set holding a private key is refused: whoever reads it could sign.
func ParseVerifyingKeys(b []byte) (VerifyingKeys, error) {
	var set KeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("verifying keys: not a JWK Set: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("verifying keys: the set is empty")
	}
	keys := VerifyingKeys{}
	for _, k := range set.Keys {
		if k.D != "" {
			return nil, fmt.Errorf("verifying keys: key %q holds its private part (d): a verifier must hold public keys only", k.Kid)
		}
		pub, err := k.public()
		if err != nil {
			return nil, fmt.Errorf("verifying keys: %w", err)
		}
		if _, dup := keys[k.Kid]; dup {
			return nil, fmt.Errorf("verifying keys: kid %q appears twice", k.Kid)
		}
		keys[k.Kid] = pub
	}
	return keys, nil
}
