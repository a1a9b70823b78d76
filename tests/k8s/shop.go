package k8s

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Apps are the seven apps of the overlays; WithAppToken those whose sidecar
// presents an app API token (the gateway serves the public and checks none).
var (
	Apps         = []string{"gateway", "users", "catalog", "orders", "payments", "notifications", "recommendations"}
	WithAppToken = []string{"users", "catalog", "orders", "payments", "notifications", "recommendations"}
)

// Secrets are the values of the secrets docs/kubernetes.md step 3 tells a
// user to create, as CreateSecrets made them.
type Secrets struct {
	AppTokens     map[string]string // app → its app API token
	RedisPassword string
}

// CreateSecrets does step 3 of docs/kubernetes.md for the redis overlay in
// the namespace daprshop: a Dapr API token per app, an app API token per
// app that checks one, the token signing key and its public set (made by
// cmd/jwtkeys, as the guide says), and Redis's password.
func (c *Cluster) CreateSecrets(ctx context.Context) (Secrets, error) {
	s := Secrets{AppTokens: map[string]string{}}
	create := func(name string, from ...string) error {
		_, _, err := c.Kubectl(ctx, "", append([]string{"-n", "daprshop", "create", "secret", "generic", name}, from...)...)
		return err
	}
	for _, app := range Apps {
		if err := create(app+"-dapr-api-token", "--from-literal=token="+randomHex(32)); err != nil {
			return s, err
		}
	}
	for _, app := range WithAppToken {
		s.AppTokens[app] = randomHex(32)
		if err := create(app+"-app-api-token", "--from-literal=token="+s.AppTokens[app]); err != nil {
			return s, err
		}
	}
	keys := filepath.Join(c.Dir, "keys")
	cmd := exec.CommandContext(ctx, "go", "run", "./cmd/jwtkeys", "-kid", "k8s-test", "-out", keys)
	cmd.Dir = c.Root
	if out, err := cmd.CombinedOutput(); err != nil {
		return s, fmt.Errorf("go run ./cmd/jwtkeys: %w: %s", err, out)
	}
	for _, name := range []string{"jwt-signing-key", "jwt-verification-keys"} {
		if err := create(name, "--from-file="+name+"="+filepath.Join(keys, name)); err != nil {
			return s, err
		}
	}
	s.RedisPassword = randomHex(24)
	return s, create("redis", "--from-literal=password="+s.RedisPassword)
}

// RedisVolume makes the volume infra/redis's claim binds to, as a storage
// provisioner would: a folder on the node, owned by Redis's user (999: a
// hostPath volume is not given the pod's fsGroup).
func (c *Cluster) RedisVolume(ctx context.Context) error {
	dir := filepath.Join(c.Dir, "volumes", "redis")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if err := os.Chown(dir, 999, 999); err != nil {
		return err
	}
	pv := fmt.Sprintf(`apiVersion: v1
kind: PersistentVolume
metadata: {name: redis-data}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  claimRef: {namespace: daprshop, name: data-redis-0}
  hostPath: {path: %q, type: Directory}
`, dir)
	_, _, err := c.Kubectl(ctx, pv, "apply", "-f", "-")
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}
