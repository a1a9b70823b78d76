// Package daprdtest starts a real daprd (the pinned build in .bin/, from
// `make tools`) for a test: no app, no control plane (StartWithWorkflows
// adds a placement and a scheduler), the resources the test gives, an API
// token, and free ports. It waits on /v1.0/healthz, and
// stops the sidecar when the test ends. The state layer and every store and
// adapter of the services are tested against it, so that their contract
// tests meet the real runtime.
package daprdtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/daprproc"
	"github.com/daprshop/daprshop/internal/proc"
	"github.com/daprshop/daprshop/internal/sidecar"
)

// Token is the Dapr API token every sidecar started here requires.
const Token = "daprdtest-token"

// Sidecar is a running daprd.
type Sidecar struct {
	Config sidecar.Config
	// Client is a go-sdk client connected to it (with the token).
	Client dapr.Client
	// Redis and StateComponent are the redis-server and the pluggable
	// component started for its state store, when its kind needs them.
	Redis          *Redis
	StateComponent *StateComponent
}

// Start runs daprd with the given app id and resources (YAML documents,
// written to a temporary folder; "{{dir}}" in them is replaced by that
// folder, for SQLite files). It fails the test if daprd is missing or does
// not become healthy.
func Start(t testing.TB, appID string, resources ...string) *Sidecar {
	t.Helper()
	return StartWithEnv(t, appID, nil, resources...)
}

// StartWithEnv is Start with extra environment variables for daprd (for
// example secrets for a secretstores.local.env component).
func StartWithEnv(t testing.TB, appID string, env []string, resources ...string) *Sidecar {
	t.Helper()
	return startSidecar(t, appID, env, "", "", resources...)
}

// StartWithWorkflows is Start with a placement and a scheduler of the
// test's own (the builds next to daprd), so that the sidecar runs actors
// and workflows. One of resources must be an actor state store
// (StateStore with WithActorStateStore).
func StartWithWorkflows(t testing.TB, appID string, resources ...string) *Sidecar {
	t.Helper()
	bin := filepath.Dir(findDaprd(t))
	dir := t.TempDir()
	ports := FreePorts(t, 9)
	pl := daprproc.Placement{Port: ports[0], HealthzPort: ports[1], MetricsPort: ports[2], RaftPort: ports[3], LogLevel: "warn"}
	Run(t, pl.Spec(filepath.Join(bin, "placement"), dir, nil), time.Minute)
	sc := daprproc.Scheduler{
		Port: ports[4], HealthzPort: ports[5], MetricsPort: ports[6], EtcdClientPort: ports[7], EtcdPeerPort: ports[8],
		EtcdDataDir: filepath.Join(dir, "etcd"), IdentityDir: filepath.Join(dir, "identity"), LogLevel: "warn",
	}
	Run(t, sc.Spec(filepath.Join(bin, "scheduler"), dir, nil), time.Minute)
	return startSidecar(t, appID, nil, pl.Addr(), sc.Addr(), resources...)
}

func startSidecar(t testing.TB, appID string, env []string, placement, scheduler string, resources ...string) *Sidecar {
	t.Helper()
	daprd := findDaprd(t)
	dir := t.TempDir()
	resources, redisEnv, redis, comp := prepareRedis(t, resources)
	env = append(env, redisEnv...)
	for i, r := range resources {
		r = string(bytes.ReplaceAll([]byte(r), []byte("{{dir}}"), []byte(dir)))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("resource-%d.yaml", i)), []byte(r), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := daprproc.Daprd{
		AppID:           appID,
		ListenAddresses: "127.0.0.1",
		ResourcesPaths:  []string{dir},
		LogLevel:        "warn",
		Placement:       placement,
		Scheduler:       scheduler,
	}.WithFreePorts()
	if err != nil {
		t.Fatal(err)
	}
	spec := d.Spec(daprd, dir, append(append(os.Environ(), env...), "DAPR_API_TOKEN="+Token))
	Run(t, spec, 60*time.Second)

	cfg := sidecar.Config{Host: "127.0.0.1", HTTPPort: strconv.Itoa(d.HTTPPort), GRPCPort: strconv.Itoa(d.GRPCPort), APIToken: Token}
	client, err := sidecar.Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return &Sidecar{Config: cfg, Client: client, Redis: redis, StateComponent: comp}
}

// Run starts spec once for the test (proc.Run) and stops it when the test
// ends, showing what it wrote if the test failed. It fails the test if the
// process does not become ready within the time given.
func Run(t testing.TB, spec proc.Spec, within time.Duration) *proc.Started {
	t.Helper()
	p, err := proc.Run(context.Background(), spec, within)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", spec.Name, p.Out.Tail(200))
		}
	})
	return p
}

// findDaprd returns the pinned build (make tools), else an official install
// in ~/.dapr/bin, which `make tools` accepts instead of building.
func findDaprd(t testing.TB) string {
	t.Helper()
	pinned := filepath.Join(repoRoot(t), ".bin", "daprd")
	if _, err := os.Stat(pinned); err == nil {
		return pinned
	}
	if home, err := os.UserHomeDir(); err == nil {
		installed := filepath.Join(home, ".dapr", "bin", "daprd")
		if _, err := os.Stat(installed); err == nil {
			return installed
		}
	}
	t.Fatalf("daprd not found in %s or ~/.dapr/bin: run `make tools` first", pinned)
	return ""
}

// repoRoot finds the folder holding go.mod, from the test's folder up.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's folder")
		}
		dir = parent
	}
}

// FreePorts asks the kernel for n free ports at once.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports, err := proc.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}
