// Command jwtkeys makes a new Ed25519 key for the shop's access tokens and
// writes the two secrets that hold it: jwt-signing-key (the private key, a
// JWK, which only users may read) and jwt-verification-keys (the public
// keys, a JWK Set, which the gateway reads).
//
//	go run ./cmd/jwtkeys -kid 2027-01 -out keys/ [-keep old-jwt-verification-keys]
//
// -keep adds the public keys of an existing set, for a rollover: publish
// the new set first (the gateway then accepts both keys), switch the signing
// key, and drop the old public key once its last tokens have expired.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/daprshop/daprshop/internal/authtoken"
)

func main() {
	if err := run(os.Args, os.Stdout, rand.Reader); err != nil {
		fmt.Fprintln(os.Stderr, "jwtkeys:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer, random io.Reader) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	kid := fs.String("kid", "", "the new key's id (say, the month it starts signing)")
	out := fs.String("out", "", "folder to write jwt-signing-key and jwt-verification-keys to")
	keep := fs.String("keep", "", "a jwt-verification-keys file whose keys the new set keeps (a rollover)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *kid == "" || *out == "" {
		return fmt.Errorf("-kid and -out are required")
	}
	_, priv, err := ed25519.GenerateKey(random)
	if err != nil {
		return err
	}
	key := authtoken.SigningKey{ID: *kid, Key: priv}
	var set authtoken.KeySet
	if *keep != "" {
		b, err := os.ReadFile(*keep)
		if err != nil {
			return err
		}
		if _, err := authtoken.ParseVerifyingKeys(b); err != nil {
			return fmt.Errorf("-keep %s: %w", *keep, err)
		}
		if err := json.Unmarshal(b, &set); err != nil {
			return err
		}
	}
	set.Keys = append(set.Keys, key.PublicJWK())

	privJSON, err := json.Marshal(key.PrivateJWK())
	if err != nil {
		return err
	}
	setJSON, err := json.Marshal(set)
	if err != nil {
		return err
	}
	// Check both as their readers will, before anything is written.
	if _, err := authtoken.ParseSigningKey(privJSON); err != nil {
		return err
	}
	if _, err := authtoken.ParseVerifyingKeys(setJSON); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "jwt-signing-key"), privJSON, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "jwt-verification-keys"), setJSON, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (private: users only) and %s (%d public keys)\n",
		filepath.Join(*out, "jwt-signing-key"), filepath.Join(*out, "jwt-verification-keys"), len(set.Keys))
	return nil
}
