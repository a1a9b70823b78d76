// Package daprdtest starts a real daprd (the pinned build in .bin/, from
// `make tools`) for a test: no app, no control plane, the resources the
// test gives, an API token, and free ports. It waits on /v1.0/healthz, and
// stops the sidecar when the test ends. Adapters in dapr.go files are tested
// against it, so that their contract tests meet the real runtime.
package daprdtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

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
func Start(t *testing.T, appID string, resources ...string) *Sidecar {
	t.Helper()
	return StartWithEnv(t, appID, nil, resources...)
}

// StartWithEnv is Start with extra environment variables for daprd (for
// example secrets for a secretstores.local.env component).
func StartWithEnv(t *testing.T, appID string, env []string, resources ...string) *Sidecar {
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
	ports := FreePorts(t, 4)
	cmd := exec.Command(daprd,
		"--app-id="+appID,
		"--dapr-http-port="+strconv.Itoa(ports[0]),
		"--dapr-grpc-port="+strconv.Itoa(ports[1]),
		"--dapr-internal-grpc-port="+strconv.Itoa(ports[2]),
		"--metrics-port="+strconv.Itoa(ports[3]),
		"--dapr-listen-addresses=127.0.0.1",
		"--resources-path="+dir,
		"--placement-host-address=",
		"--scheduler-host-address=",
		"--log-level=warn",
	)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "DAPR_API_TOKEN="+Token)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start daprd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("daprd output:\n%s", out.String())
		}
	})

	cfg := sidecar.Config{Host: "127.0.0.1", HTTPPort: strconv.Itoa(ports[0]), GRPCPort: strconv.Itoa(ports[1]), APIToken: Token}
	if err := waitHealthy(cfg, exited); err != nil {
		t.Fatalf("daprd for %s: %v\n%s", appID, err, out.String())
	}
	client, err := sidecar.Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return &Sidecar{Config: cfg, Client: client, Redis: redis, StateComponent: comp}
}

func waitHealthy(cfg sidecar.Config, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.HTTPBase()+"/v1.0/healthz", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("daprd exited before it was healthy")
		case <-ctx.Done():
			return fmt.Errorf("not healthy within 60s")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// findDaprd returns the pinned build (make tools), else an official install
// in ~/.dapr/bin, which `make tools` accepts instead of building.
func findDaprd(t *testing.T) string {
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
func repoRoot(t *testing.T) string {
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
func FreePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// SyncBuffer is a bytes.Buffer that a child process's two pipes and a
// test may use at once.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
