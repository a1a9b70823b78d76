package launcher

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// freePorts returns n distinct ports nothing listens on. They are taken
// below the ephemeral range, so that no outgoing connection of another
// process on the machine takes one between this check and the test's.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	require.Greater(t, low, 12000, "no port range below the ephemeral one")
	var ports []int
	start := 10000 + rand.IntN(low-12000)
	for p := start; p < low && len(ports) < n; p++ {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		require.NoError(t, l.Close())
		ports = append(ports, p)
	}
	require.Len(t, ports, n, "free ports from %d", start)
	return ports
}

// TestCheckPorts is not parallel: a process forked by a parallel test keeps
// a copy of every listener open at that moment until it execs, so a port
// checkPorts has just closed could still be bound when it is checked again.
// Sequential top-level tests finish before any parallel one starts.
func TestCheckPorts(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { held.Close() })
	heldPort := held.Addr().(*net.TCPAddr).Port
	free := freePorts(t, 3)
	free1, free2, free3 := free[0], free[1], free[2]

	tests := []struct {
		name     string
		specs    map[string]procSpec
		wantErrs []string // empty: no error
		notWant  []string
	}{
		{
			name: "free ports pass",
			specs: map[string]procSpec{
				"a": {ports: []namedPort{{free1, "a HTTP"}, {free2, "a gRPC"}}},
				"b": {ports: []namedPort{{free3, "b app"}}},
				"c": {},
			},
		},
		{
			name: "a held port is named with what it is for",
			specs: map[string]procSpec{
				"a": {ports: []namedPort{{free1, "a HTTP"}, {heldPort, "users daprd gRPC"}}},
			},
			wantErrs: []string{
				"port " + strconv.Itoa(heldPort) + " (users daprd gRPC) is taken by another process",
				"ss -ltnp",
			},
			notWant: []string{strconv.Itoa(free1)},
		},
		{
			name: "a port set twice is reported",
			specs: map[string]procSpec{
				"a": {ports: []namedPort{{free1, "a HTTP"}}},
				"b": {ports: []namedPort{{free1, "b metrics"}}},
			},
			wantErrs: []string{"port " + strconv.Itoa(free1) + " is set twice: a HTTP and b metrics"},
			notWant:  []string{"taken by another process"},
		},
		{
			name: "every problem is reported at once",
			specs: map[string]procSpec{
				"a": {ports: []namedPort{{heldPort, "a HTTP"}, {free2, "a gRPC"}}},
				"b": {ports: []namedPort{{free2, "b gRPC"}}},
			},
			wantErrs: []string{
				"port " + strconv.Itoa(heldPort) + " (a HTTP) is taken by another process",
				"port " + strconv.Itoa(free2) + " is set twice: a gRPC and b gRPC",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the cases share the free ports.
			err := checkPorts(tt.specs)
			if len(tt.wantErrs) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tt.wantErrs {
				assert.ErrorContains(t, err, want)
			}
			for _, notWant := range tt.notWant {
				assert.NotContains(t, err.Error(), notWant)
			}
		})
	}
}

func TestHostPort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		addr     string
		wantHost string
		wantPort int
		wantErr  bool
	}{
		{name: "empty takes loopback and the default port", addr: "", wantHost: "127.0.0.1", wantPort: 50005},
		{name: "localhost becomes loopback", addr: "localhost:50007", wantHost: "127.0.0.1", wantPort: 50007},
		{name: "empty host becomes loopback", addr: ":50008", wantHost: "127.0.0.1", wantPort: 50008},
		{name: "other host kept", addr: "10.0.0.1:1", wantHost: "10.0.0.1", wantPort: 1},
		{name: "IPv6 host kept", addr: "[::1]:2", wantHost: "::1", wantPort: 2},
		{name: "bare host takes the default port", addr: "placement", wantHost: "placement", wantPort: 50005},
		{name: "bad port", addr: "host:abc", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host, port, err := hostPort(tt.addr, 50005)
			if tt.wantErr {
				assert.ErrorContains(t, err, "bad port in \""+tt.addr+"\"")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantHost, host)
			assert.Equal(t, tt.wantPort, port)
		})
	}
}

func TestBuiltHere(t *testing.T) {
	t.Parallel()
	s := &System{cfg: Config{RootDir: "/repo", BinDir: "/repo/.bin"}}
	tests := []struct {
		name string
		cmd  []string
		want bool
	}{
		{name: "the run file's relative path to its binary", cmd: []string{"../../.bin/apps/users"}, want: true},
		{name: "the absolute path to its binary", cmd: []string{"/repo/.bin/apps/users"}, want: true},
		{name: "another app's binary", cmd: []string{"../../.bin/apps/orders"}},
		{name: "its binary with arguments", cmd: []string{"../../.bin/apps/users", "-flag"}},
		{name: "go run, which the CLI cannot stop", cmd: []string{"go", "run", "."}},
		{name: "another binary", cmd: []string{"./app"}},
		{name: "empty", cmd: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := testApp()
			a.Command = tt.cmd
			assert.Equal(t, tt.want, s.builtHere(a))
		})
	}
}

// testApp is an app as LoadRunFile returns it for the local run file.
func testApp() App {
	return App{
		AppSettings: AppSettings{
			AppID:            "users",
			AppDirPath:       "/repo/services/users",
			AppPort:          8081,
			HTTPPort:         3501,
			GRPCPort:         50101,
			InternalGRPCPort: 50201,
			MetricsPort:      9101,
			Command:          []string{"../../.bin/apps/users"},
			SharedSettings: SharedSettings{
				AppProtocol:        "http",
				ConfigFile:         "/repo/dapr/config.yaml",
				ResourcesPaths:     []string{"/repo/components/local", "/repo/dapr/resources"},
				EnableAppHealth:    true,
				AppHealthPath:      "/healthz",
				AppHealthInterval:  1,
				AppHealthThreshold: 2,
				PlacementHostAddr:  "127.0.0.1:50005",
				SchedulerHostAddr:  "127.0.0.1:50006",
				LogLevel:           "debug",
				Env:                map[string]string{"STATE_STORE": "users-store", "SHARED": "from app"},
			},
		},
		EnvFromFile: map[string]string{"DAPR_API_TOKEN": "dapr-token", "APP_API_TOKEN": "app-token", "SHARED": "from file"},
	}
}

// effectiveEnv is the environment a process gets from env: os/exec keeps
// the last value of a duplicated key.
func effectiveEnv(env []string) map[string]string {
	out := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

func TestDaprdSpec(t *testing.T) {
	t.Parallel()
	s := &System{cfg: Config{RootDir: "/repo", BinDir: "/repo/.bin"}}

	spec := s.daprdSpec(testApp(), "/repo/.bin/daprd")

	assert.Equal(t, "users.daprd", spec.name)
	assert.Equal(t, "/repo/.bin/daprd", spec.path)
	assert.Equal(t, "/repo/services/users", spec.dir)
	for _, flag := range []string{
		"--app-id=users",
		"--app-port=8081",
		"--app-protocol=http",
		"--dapr-http-port=3501",
		"--dapr-grpc-port=50101",
		"--dapr-internal-grpc-port=50201",
		"--metrics-port=9101",
		"--config=/repo/dapr/config.yaml",
		"--resources-path=/repo/components/local",
		"--resources-path=/repo/dapr/resources",
		"--enable-app-health-check",
		"--app-health-check-path=/healthz",
		"--app-health-probe-interval=1",
		"--app-health-threshold=2",
		"--placement-host-address=127.0.0.1:50005",
		"--scheduler-host-address=127.0.0.1:50006",
		"--log-level=debug",
	} {
		assert.Contains(t, spec.args, flag)
	}
	for _, absent := range []string{"--app-health-probe-timeout", "--enable-api-logging", "--max-body-size", "--app-channel-address", "--dapr-listen-addresses", "--app-max-concurrency"} {
		for _, arg := range spec.args {
			assert.False(t, strings.HasPrefix(arg, absent), "unset %s must not be passed, got %s", absent, arg)
		}
	}
	assert.Equal(t, []namedPort{
		{3501, "users daprd HTTP"}, {50101, "users daprd gRPC"},
		{50201, "users daprd internal gRPC"}, {9101, "users daprd metrics"},
	}, spec.ports)
	assert.NotNil(t, spec.ready)
	env := effectiveEnv(spec.env)
	assert.Equal(t, "dapr-token", env["DAPR_API_TOKEN"])
	assert.Equal(t, "app-token", env["APP_API_TOKEN"])
}

func TestDaprdSpecOptionalFlags(t *testing.T) {
	t.Parallel()
	s := &System{cfg: Config{RootDir: "/repo"}}
	tests := []struct {
		name    string
		change  func(*App)
		want    []string
		notWant []string
	}{
		{
			name:    "health check off drops its settings",
			change:  func(a *App) { a.EnableAppHealth = false },
			notWant: []string{"--enable-app-health-check", "--app-health-check-path=/healthz", "--app-health-probe-interval=1"},
		},
		{
			name:    "defaults for protocol and log level",
			change:  func(a *App) { a.AppProtocol, a.LogLevel = "", "" },
			want:    []string{"--app-protocol=http", "--log-level=info"},
			notWant: []string{"--app-protocol=", "--log-level="},
		},
		{
			name:    "no app port, config or resources",
			change:  func(a *App) { a.AppPort, a.ConfigFile, a.ResourcesPaths = 0, "", nil },
			notWant: []string{"--app-port=0", "--config=", "--resources-path=/repo/components/local"},
		},
		{
			name: "every optional setting",
			change: func(a *App) {
				a.AppHealthTimeout = 700
				a.EnableAPILogging = true
				a.MaxRequestBodySize = "8Mi"
				a.AppChannelAddress = "10.0.0.2"
				a.APIListenAddresses = "0.0.0.0"
				a.AppMaxConcurrency = 4
			},
			want: []string{
				"--app-health-probe-timeout=700", "--enable-api-logging", "--max-body-size=8Mi",
				"--app-channel-address=10.0.0.2", "--dapr-listen-addresses=0.0.0.0", "--app-max-concurrency=4",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := testApp()
			tt.change(&a)
			spec := s.daprdSpec(a, "daprd")
			for _, want := range tt.want {
				assert.Contains(t, spec.args, want)
			}
			for _, notWant := range tt.notWant {
				assert.NotContains(t, spec.args, notWant)
			}
		})
	}
}

func TestAppSpec(t *testing.T) {
	t.Parallel()
	binDir := t.TempDir()
	s := &System{cfg: Config{RootDir: "/repo", BinDir: binDir}}
	shPath, err := filepath.EvalSymlinks("/bin/sh")
	require.NoError(t, err)

	tests := []struct {
		name      string
		change    func(*App)
		wantPath  string
		wantArgs  []string
		wantPorts []namedPort
		wantReady bool
		wantEnv   map[string]string
	}{
		{
			name:      "the app's binary is the one the launcher builds, in BinDir",
			change:    func(a *App) { a.Command = []string{filepath.Join(binDir, "apps", "users")} },
			wantPath:  filepath.Join(binDir, "apps", "users"),
			wantArgs:  []string{},
			wantPorts: []namedPort{{8081, "users app"}},
			wantReady: true,
			wantEnv: map[string]string{
				"APP_ID":            "users",
				"APP_PORT":          "8081",
				"APP_PROTOCOL":      "http",
				"DAPR_HTTP_PORT":    "3501",
				"DAPR_GRPC_PORT":    "50101",
				"DAPR_METRICS_PORT": "9101",
				"STATE_STORE":       "users-store",
				"SHARED":            "from app",
				"DAPR_API_TOKEN":    "dapr-token",
				"APP_API_TOKEN":     "app-token",
			},
		},
		{
			name: "other commands run as they are, found in PATH",
			change: func(a *App) {
				a.Command = []string{"sh", "-c", "exit 0"}
				a.AppPort, a.AppProtocol = 0, ""
				a.Env = map[string]string{"APP_ID": "overridden by the app env"}
			},
			wantArgs: []string{"-c", "exit 0"},
			wantEnv: map[string]string{
				"APP_ID":       "overridden by the app env",
				"APP_PORT":     "0",
				"APP_PROTOCOL": "http",
				"SHARED":       "from file",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := testApp()
			tt.change(&a)

			spec, err := s.appSpec(a)

			require.NoError(t, err)
			assert.Equal(t, "users", spec.name)
			assert.Equal(t, "/repo/services/users", spec.dir)
			if tt.wantPath != "" {
				assert.Equal(t, tt.wantPath, spec.path)
			} else {
				resolved, err := filepath.EvalSymlinks(spec.path)
				require.NoError(t, err, "the command is looked up in PATH")
				assert.Equal(t, shPath, resolved)
			}
			assert.Equal(t, tt.wantArgs, spec.args)
			assert.Equal(t, tt.wantPorts, spec.ports)
			assert.Equal(t, tt.wantReady, spec.ready != nil)
			env := effectiveEnv(spec.env)
			for k, v := range tt.wantEnv {
				assert.Equal(t, v, env[k], "environment variable %s", k)
			}
		})
	}
}

func TestAppSpecWithoutCommand(t *testing.T) {
	t.Parallel()
	s := &System{cfg: Config{BinDir: t.TempDir()}}
	a := testApp()
	a.Command = nil

	_, err := s.appSpec(a)

	assert.ErrorContains(t, err, `app "users" has no command`)
}

func TestMergeEnv(t *testing.T) {
	t.Parallel()
	base := []string{"A=1", "B=2"}

	got := mergeEnv(base, map[string]string{"B": "3", "C": "4"})

	assert.Equal(t, []string{"A=1", "B=2"}, base, "the base is not changed")
	assert.Equal(t, map[string]string{"A": "1", "B": "3", "C": "4"}, effectiveEnv(got))
}

func TestAwaitPortsReportsAPortStillHeldAfterTheWait(t *testing.T) {
	t.Parallel()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { held.Close() })
	port := held.Addr().(*net.TCPAddr).Port
	specs := map[string]procSpec{"a": {ports: []namedPort{{port, "a HTTP"}}}}

	err = awaitPorts(context.Background(), specs, 300*time.Millisecond)
	assert.ErrorContains(t, err, "port "+strconv.Itoa(port)+" (a HTTP) is taken")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = awaitPorts(ctx, specs, time.Hour)
	assert.Error(t, err, "a cancelled start does not wait the hour")

	require.NoError(t, held.Close())
	assert.NoError(t, awaitPorts(context.Background(), specs, time.Hour), "a free port passes at once")
}
