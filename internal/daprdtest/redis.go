package daprdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/proc"
)

// Redis is a redis-server of one test's own (Debian's, on PATH), on a
// free port, without persistence: tests stay apart from each other and
// from the redis profile's server, and may restart it.
type Redis struct {
	Addr string
	t    testing.TB
	spec proc.Spec
	p    *proc.Started
}

// StartRedis runs a redis-server for the test; it stops when the test ends.
func StartRedis(t testing.TB) *Redis {
	return startRedis(t, false)
}

// StartDurableRedis runs a redis-server that writes every command to its
// append-only file before it answers (appendfsync always), so that a
// Restart keeps what was acknowledged.
func StartDurableRedis(t testing.TB) *Redis {
	return startRedis(t, true)
}

func startRedis(t testing.TB, durable bool) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not on PATH (Debian: apt-get install redis-server): %v", err)
	}
	port := strconv.Itoa(FreePorts(t, 1)[0])
	args := []string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--dir", t.TempDir(), "--appendonly", "no"}
	if durable {
		args = append(args[:len(args)-1], "yes", "--appendfsync", "always")
	}
	r := &Redis{t: t, Addr: net.JoinHostPort("127.0.0.1", port)}
	r.spec = proc.Spec{Name: "redis-server", Path: bin, Args: args, Ready: proc.TCP(r.Addr)}
	t.Cleanup(func() { stopAndShow(t, r.p) })
	r.p = start(t, r.spec)
	return r
}

// Restart kills the server (SIGKILL: what it held only in memory is gone;
// a durable one keeps what its file holds) and starts it again on the
// same port.
func (r *Redis) Restart() {
	r.t.Helper()
	kill(r.p)
	r.p = start(r.t, r.spec)
}

// StateComponent is the redis profile's pluggable state store
// (pluggable/redisstate, built into .bin/ by `make tools`), serving one
// socket folder.
type StateComponent struct {
	Folder string
	t      testing.TB
	spec   proc.Spec
	p      *proc.Started
}

// StartStateComponent runs the component for the test, in a socket folder
// of its own (a short path: a Unix socket's must fit in 108 bytes); it
// stops when the test ends, after the sidecars started later.
func StartStateComponent(t testing.TB) *StateComponent {
	t.Helper()
	bin := filepath.Join(repoRoot(t), ".bin", "redisstate")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("redisstate not found at %s: run `make tools` first", bin)
	}
	folder, err := os.MkdirTemp("", "dapr-sockets-")
	if err != nil {
		t.Fatal(err)
	}
	c := &StateComponent{Folder: folder, t: t}
	c.spec = proc.Spec{
		Name:  "redisstate",
		Path:  bin,
		Args:  []string{"-socket-folder", folder, "-name", DaprshopRedis},
		Ready: proc.Dial("unix", filepath.Join(folder, DaprshopRedis+".sock")),
	}
	t.Cleanup(func() {
		stopAndShow(t, c.p)
		_ = os.RemoveAll(folder)
	})
	c.p = start(t, c.spec)
	return c
}

// Kill stops the component with SIGKILL, as a crash would.
func (c *StateComponent) Kill() { kill(c.p) }

// Restart starts the component again after Kill, under the running
// sidecars.
func (c *StateComponent) Restart() {
	c.t.Helper()
	kill(c.p)
	c.p = start(c.t, c.spec)
}

func start(t testing.TB, spec proc.Spec) *proc.Started {
	t.Helper()
	p, err := proc.Run(context.Background(), spec, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// kill ends p with SIGKILL, as a crash would, and waits until it is gone.
func kill(p *proc.Started) {
	_ = p.Signal(syscall.SIGKILL)
	p.Stop()
}

func stopAndShow(t testing.TB, p *proc.Started) {
	if p == nil {
		return
	}
	kill(p)
	if t.Failed() {
		t.Logf("%s output:\n%s", p.Name(), p.Out.Tail(200))
	}
}

// prepareRedis starts what the resources need before daprd: a redis-server
// for "{{redis}}", and the pluggable component for its type. It returns
// the resources with the address in, and the environment for daprd.
func prepareRedis(t testing.TB, resources []string) ([]string, []string, *Redis, *StateComponent) {
	t.Helper()
	var redis *Redis
	var comp *StateComponent
	var env []string
	out := make([]string, len(resources))
	for i, r := range resources {
		if redis == nil && strings.Contains(r, "{{redis}}") {
			redis = StartRedis(t)
		}
		if redis != nil {
			r = strings.ReplaceAll(r, "{{redis}}", redis.Addr)
		}
		if comp == nil && strings.Contains(r, "type: state."+DaprshopRedis) {
			comp = StartStateComponent(t)
			env = append(env, fmt.Sprintf("DAPR_COMPONENTS_SOCKETS_FOLDER=%s", comp.Folder))
		}
		out[i] = r
	}
	return out, env, redis, comp
}
