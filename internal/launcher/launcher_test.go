package launcher

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/proc"
)

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

	assert.Equal(t, "users.daprd", spec.Name)
	assert.Equal(t, "/repo/.bin/daprd", spec.Path)
	assert.Equal(t, "/repo/services/users", spec.Dir)
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
		assert.Contains(t, spec.Args, flag)
	}
	for _, absent := range []string{"--app-health-probe-timeout", "--enable-api-logging", "--max-body-size", "--app-channel-address", "--dapr-listen-addresses", "--app-max-concurrency"} {
		for _, arg := range spec.Args {
			assert.False(t, strings.HasPrefix(arg, absent), "unset %s must not be passed, got %s", absent, arg)
		}
	}
	assert.Equal(t, []proc.Port{
		{Port: 3501, What: "users daprd HTTP"}, {Port: 50101, What: "users daprd gRPC"},
		{Port: 50201, What: "users daprd internal gRPC"}, {Port: 9101, What: "users daprd metrics"},
	}, spec.Ports)
	assert.NotNil(t, spec.Ready)
	env := effectiveEnv(spec.Env)
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
			notWant: []string{"--app-port=0", "--config=", "--resources-path=/repo/components/local", "--enable-profiling"},
		},
		{
			name:   "profiling on the port the run file gives",
			change: func(a *App) { a.EnableProfiling, a.ProfilePort = true, 7777 },
			want:   []string{"--enable-profiling", "--profile-port=7777"},
		},
		{
			name:    "a profile port without enableProfiling serves nothing",
			change:  func(a *App) { a.ProfilePort = 7777 },
			notWant: []string{"--enable-profiling", "--profile-port=7777"},
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
				assert.Contains(t, spec.Args, want)
			}
			for _, notWant := range tt.notWant {
				assert.NotContains(t, spec.Args, notWant)
			}
		})
	}
}

func TestProfilePorts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		profiling bool // Config.Profiling
		enable    [3]bool
		ports     [3]int // profilePort in the run file
		want      [3]string
	}{
		{
			name: "off: no port", want: [3]string{"none", "none", "none"},
		},
		{
			name:   "one app: a free port, or the one it names",
			enable: [3]bool{true, false, true}, ports: [3]int{0, 0, 7777},
			want: [3]string{"free", "none", "7777"},
		},
		{
			name: "Config.Profiling: every sidecar", profiling: true, ports: [3]int{0, 7778, 0},
			want: [3]string{"free", "7778", "free"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &System{cfg: Config{Profiling: tt.profiling}}
			for i := range 3 {
				a := testApp()
				a.EnableProfiling, a.ProfilePort = tt.enable[i], tt.ports[i]
				s.apps = append(s.apps, a)
			}
			require.NoError(t, s.profilePorts())
			seen := map[int]bool{}
			for i, a := range s.apps {
				switch tt.want[i] {
				case "none":
					assert.False(t, a.EnableProfiling, "app %d", i)
					assert.NotContains(t, s.daprdSpec(a, "daprd").Args, "--enable-profiling")
				case "free":
					assert.True(t, a.EnableProfiling, "app %d", i)
					assert.Positive(t, a.ProfilePort, "app %d", i)
					assert.False(t, seen[a.ProfilePort], "app %d: a port of its own", i)
					seen[a.ProfilePort] = true
					assert.Contains(t, s.daprdSpec(a, "daprd").Args, fmt.Sprintf("--profile-port=%d", a.ProfilePort))
				default:
					assert.Equal(t, tt.want[i], strconv.Itoa(a.ProfilePort), "app %d", i)
					assert.Contains(t, s.daprdSpec(a, "daprd").Args, "--profile-port="+tt.want[i])
				}
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
		wantPorts []proc.Port
		wantReady bool
		wantEnv   map[string]string
	}{
		{
			name:      "the app's binary is the one the launcher builds, in BinDir",
			change:    func(a *App) { a.Command = []string{filepath.Join(binDir, "apps", "users")} },
			wantPath:  filepath.Join(binDir, "apps", "users"),
			wantArgs:  []string{},
			wantPorts: []proc.Port{{Port: 8081, What: "users app"}},
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
			assert.Equal(t, "users", spec.Name)
			assert.Equal(t, "/repo/services/users", spec.Dir)
			if tt.wantPath != "" {
				assert.Equal(t, tt.wantPath, spec.Path)
			} else {
				resolved, err := filepath.EvalSymlinks(spec.Path)
				require.NoError(t, err, "the command is looked up in PATH")
				assert.Equal(t, shPath, resolved)
			}
			assert.Equal(t, tt.wantArgs, spec.Args)
			assert.Equal(t, tt.wantPorts, spec.Ports)
			assert.Equal(t, tt.wantReady, spec.Ready != nil)
			env := effectiveEnv(spec.Env)
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
