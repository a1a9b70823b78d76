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
)

// Redis is a redis-server of one test's own (Debian's, on PATH), on a
// free port, without persistence: tests stay apart from each other and
// from the redis profile's server, and may restart it.
type Redis struct {
	Addr    string
	t       *testing.T
	dir     string
	durable bool
	cmd     *exec.Cmd
	out     *SyncBuffer
}

// StartRedis runs a redis-server for the test; it stops when the test ends.
func StartRedis(t *testing.T) *Redis {
	return startRedis(t, false)
}

// StartDurableRedis runs a redis-server that writes every command to its
// append-only file before it answers (appendfsync always), so that a
// Restart keeps what was acknowledged.
func StartDurableRedis(t *testing.T) *Redis {
	return startRedis(t, true)
}

func startRedis(t *testing.T, durable bool) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not on PATH (Debian: apt-get install redis-server): %v", err)
	}
	r := &Redis{t: t, dir: t.TempDir(), durable: durable, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePorts(t, 1)[0]))}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *Redis) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.Addr)
	args := []string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--dir", r.dir, "--appendonly", "no"}
	if r.durable {
		args = append(args[:len(args)-1], "yes", "--appendfsync", "always")
	}
	r.cmd = exec.Command("redis-server", args...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r.out = &SyncBuffer{}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	waitDial(r.t, "tcp", r.Addr, r.out)
}

func (r *Redis) stop() {
	if r.cmd == nil {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Restart kills the server (SIGKILL: what it held only in memory is gone;
// a durable one keeps what its file holds) and starts it again on the
// same port.
func (r *Redis) Restart() {
	r.t.Helper()
	r.stop()
	r.start()
}

// StateComponent is the redis profile's pluggable state store
// (pluggable/redisstate, built into .bin/ by `make tools`), serving one
// socket folder.
type StateComponent struct {
	Folder string
	t      *testing.T
	bin    string
	cmd    *exec.Cmd
	out    *SyncBuffer
}

// StartStateComponent runs the component for the test, in a socket folder
// of its own (a short path: a Unix socket's must fit in 108 bytes); it
// stops when the test ends, after the sidecars started later.
func StartStateComponent(t *testing.T) *StateComponent {
	t.Helper()
	bin := filepath.Join(repoRoot(t), ".bin", "redisstate")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("redisstate not found at %s: run `make tools` first", bin)
	}
	folder, err := os.MkdirTemp("", "dapr-sockets-")
	if err != nil {
		t.Fatal(err)
	}
	c := &StateComponent{Folder: folder, t: t, bin: bin}
	t.Cleanup(func() {
		c.Kill()
		if t.Failed() {
			t.Logf("redisstate output:\n%s", c.out.String())
		}
		_ = os.RemoveAll(folder)
	})
	c.start()
	return c
}

func (c *StateComponent) start() {
	c.t.Helper()
	c.cmd = exec.Command(c.bin, "-socket-folder", c.Folder, "-name", DaprshopRedis)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if c.out == nil {
		c.out = &SyncBuffer{}
	}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		c.t.Fatalf("start redisstate: %v", err)
	}
	waitDial(c.t, "unix", filepath.Join(c.Folder, DaprshopRedis+".sock"), c.out)
}

// Kill stops the component with SIGKILL, as a crash would.
func (c *StateComponent) Kill() {
	if c.cmd == nil {
		return
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	_ = c.cmd.Wait()
	c.cmd = nil
}

// Restart starts the component again after Kill, under the running
// sidecars.
func (c *StateComponent) Restart() {
	c.t.Helper()
	c.Kill()
	c.start()
}

// waitDial waits until something accepts connections at addr.
func waitDial(t *testing.T, network, addr string, out *SyncBuffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if conn, err := net.DialTimeout(network, addr, time.Second); err == nil {
			conn.Close()
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("nothing listens on %s %s within 30s:\n%s", network, addr, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// prepareRedis starts what the resources need before daprd: a redis-server
// for "{{redis}}", and the pluggable component for its type. It returns
// the resources with the address in, and the environment for daprd.
func prepareRedis(t *testing.T, resources []string) ([]string, []string, *Redis, *StateComponent) {
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
