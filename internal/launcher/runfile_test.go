package launcher

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// writeFiles creates each file (path relative to root, parent folders
// included) and each folder (a path ending in "/") under root.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(root, name)
		if name[len(name)-1] == '/' {
			require.NoError(t, os.MkdirAll(path, 0o755))
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
}

// repoRoot is the repository root, two folders above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

const mergeRunFile = `version: 1
common:
  resourcesPaths:
    - ../components/local
    - ./resources
  configFilePath: ./config.yaml
  appProtocol: http
  enableAppHealthCheck: true
  appHealthCheckPath: /healthz
  appHealthProbeInterval: 1
  appHealthThreshold: 2
  placementHostAddress: 127.0.0.1:50005
  schedulerHostAddress: 127.0.0.1:50006
  logLevel: info
  env:
    SHARED: common
    OVERRIDDEN: common
apps:
  - appID: plain
    appDirPath: ../services/plain
    appPort: 8080
    daprHTTPPort: 3500
    daprGRPCPort: 50100
    daprInternalGRPCPort: 50200
    metricsPort: 9100
    command: ["go", "run", "."]
  - appID: custom
    appDirPath: ../services/custom
    appPort: 8081
    appProtocol: grpc
    appHealthCheckPath: /ready
    appHealthProbeInterval: 5
    logLevel: debug
    daprHTTPPort: 3501
    daprGRPCPort: 50101
    daprInternalGRPCPort: 50201
    metricsPort: 9101
    configFilePath: app-config.yaml
    resourcesPaths:
      - ./res
      - ../../components/local
    command: ["./custom", "--flag"]
    env:
      OVERRIDDEN: app
      OWN: app
`

const envFileContent = `# a comment

PLAIN=value
export EXPORTED=yes
DOUBLE="double quoted"
SINGLE='single quoted'
  SPACED = padded  
WITH_EQUALS=a=b
EMPTY=
   # an indented comment
`

func TestLoadRunFileMergesCommonSettings(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"dapr/dapr.yaml":       mergeRunFile,
		"dapr/resources/":      "",
		"components/local/":    "",
		"components/ci/":       "",
		"services/plain/":      "",
		"services/custom/res/": "",
	})

	apps, err := LoadRunFile(filepath.Join(root, "dapr", "dapr.yaml"), "ci")
	require.NoError(t, err)
	require.Len(t, apps, 2)

	tests := []struct {
		name string
		got  App
		want App
	}{
		{
			name: "app that sets nothing takes every common setting",
			got:  apps[0],
			want: App{
				AppSettings: AppSettings{
					AppID:            "plain",
					AppDirPath:       filepath.Join(root, "services", "plain"),
					AppPort:          8080,
					HTTPPort:         3500,
					GRPCPort:         50100,
					InternalGRPCPort: 50200,
					MetricsPort:      9100,
					Command:          []string{"go", "run", "."},
					SharedSettings: SharedSettings{
						AppProtocol:        "http",
						ConfigFile:         filepath.Join(root, "dapr", "config.yaml"),
						ResourcesPaths:     []string{filepath.Join(root, "components", "ci"), filepath.Join(root, "dapr", "resources")},
						EnableAppHealth:    true,
						AppHealthPath:      "/healthz",
						AppHealthInterval:  1,
						AppHealthThreshold: 2,
						PlacementHostAddr:  "127.0.0.1:50005",
						SchedulerHostAddr:  "127.0.0.1:50006",
						LogLevel:           "info",
						Env:                map[string]string{"SHARED": "common", "OVERRIDDEN": "common"},
					},
				},
				CommonConfigFile: filepath.Join(root, "dapr", "config.yaml"),
			},
		},
		{
			name: "app values win and app paths resolve against appDirPath",
			got:  apps[1],
			want: App{
				AppSettings: AppSettings{
					AppID:            "custom",
					AppDirPath:       filepath.Join(root, "services", "custom"),
					AppPort:          8081,
					HTTPPort:         3501,
					GRPCPort:         50101,
					InternalGRPCPort: 50201,
					MetricsPort:      9101,
					Command:          []string{"./custom", "--flag"},
					SharedSettings: SharedSettings{
						AppProtocol:        "grpc",
						ConfigFile:         filepath.Join(root, "services", "custom", "app-config.yaml"),
						ResourcesPaths:     []string{filepath.Join(root, "services", "custom", "res"), filepath.Join(root, "components", "ci")},
						EnableAppHealth:    true,
						AppHealthPath:      "/ready",
						AppHealthInterval:  5,
						AppHealthThreshold: 2,
						PlacementHostAddr:  "127.0.0.1:50005",
						SchedulerHostAddr:  "127.0.0.1:50006",
						LogLevel:           "debug",
						Env:                map[string]string{"SHARED": "common", "OVERRIDDEN": "app", "OWN": "app"},
					},
				},
				CommonConfigFile: filepath.Join(root, "dapr", "config.yaml"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.got)
		})
	}
}

func TestLoadRunFileResolvesPaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		profile       string
		wantResources []string
	}{
		{
			name:          "no profile keeps components/local",
			wantResources: []string{"components/local", "components/secrets", "dapr/resources"},
		},
		{
			name:          "profile replaces the folder under components, other paths unchanged",
			profile:       "ci",
			wantResources: []string{"components/ci", "components/ci", "dapr/resources"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			runFile := "version: 1\ncommon:\n  resourcesPaths: [../components/local, ../components/secrets, ./resources]\n" +
				"apps:\n  - appID: a\n    appDirPath: ../services/a\n    daprHTTPPort: 1\n    daprGRPCPort: 2\n    daprInternalGRPCPort: 3\n    metricsPort: 4\n"
			writeFiles(t, root, map[string]string{
				"dapr/dapr.yaml":      runFile,
				"dapr/resources/":     "",
				"components/local/":   "",
				"components/secrets/": "",
				"components/ci/":      "",
				"services/a/":         "",
			})

			apps, err := LoadRunFile(filepath.Join(root, "dapr", "dapr.yaml"), tt.profile)
			require.NoError(t, err)
			require.Len(t, apps, 1)

			want := make([]string, 0, len(tt.wantResources))
			for _, p := range tt.wantResources {
				want = append(want, filepath.Join(root, p))
			}
			assert.Equal(t, want, apps[0].ResourcesPaths)
		})
	}
}

func TestReadEnvFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string // empty: no file
		want    map[string]string
		wantErr string
	}{
		{
			name:    "every form of line",
			content: envFileContent,
			want: map[string]string{
				"PLAIN": "value", "EXPORTED": "yes", "DOUBLE": "double quoted", "SINGLE": "single quoted",
				"SPACED": "padded", "WITH_EQUALS": "a=b", "EMPTY": "",
			},
		},
		{name: "missing file", wantErr: "read env file"},
		{name: "line without =", content: "# comment\nGOOD=1\nBAD LINE\n", wantErr: "local.env:3: want KEY=VALUE"},
		{name: "line without key", content: " =value\n", wantErr: "local.env:1: want KEY=VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "local.env")
			if tt.content != "" {
				require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))
			}
			got, err := readEnvFile(path)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLoadRunFileErrors(t *testing.T) {
	t.Parallel()
	const ports = "    daprHTTPPort: 1\n    daprGRPCPort: 2\n    daprInternalGRPCPort: 3\n    metricsPort: 4\n"
	tests := []struct {
		name     string
		runFile  string // empty: no run file is written
		profile  string
		wantErrs []string
	}{
		{
			name:     "missing run file",
			wantErrs: []string{"read run file"},
		},
		{
			name:     "invalid YAML",
			runFile:  "version: [1\n",
			wantErrs: []string{"parse run file"},
		},
		{
			name:     "version missing",
			runFile:  "apps:\n  - appID: a\n    appDirPath: ../services/a\n" + ports,
			wantErrs: []string{"version 0 is not supported"},
		},
		{
			name:     "version 2",
			runFile:  "version: 2\napps:\n  - appID: a\n    appDirPath: ../services/a\n" + ports,
			wantErrs: []string{"version 2 is not supported"},
		},
		{
			name:     "no apps",
			runFile:  "version: 1\ncommon:\n  logLevel: info\n",
			wantErrs: []string{"lists no apps"},
		},
		{
			name:     "app without appID",
			runFile:  "version: 1\napps:\n  - appID: a\n    appDirPath: ../services/a\n" + ports + "  - appDirPath: ../services/a\n" + ports,
			wantErrs: []string{"app 1 has no appID"},
		},
		{
			name:     "duplicate appID",
			runFile:  "version: 1\napps:\n  - appID: a\n    appDirPath: ../services/a\n" + ports + "  - appID: a\n    appDirPath: ../services/a\n" + ports,
			wantErrs: []string{`app id "a" appears twice`},
		},
		{
			name:     "app without appDirPath",
			runFile:  "version: 1\napps:\n  - appID: a\n" + ports,
			wantErrs: []string{`app "a" has no appDirPath`},
		},
		{
			name:     "appDirPath does not exist",
			runFile:  "version: 1\napps:\n  - appID: a\n    appDirPath: ../services/missing\n" + ports,
			wantErrs: []string{`app "a"`, "services/missing is not a directory"},
		},
		{
			name:     "appDirPath is a file",
			runFile:  "version: 1\napps:\n  - appID: a\n    appDirPath: ../services/file.txt\n" + ports,
			wantErrs: []string{`app "a"`, "services/file.txt is not a directory"},
		},
		{
			name:     "metricsPort missing",
			runFile:  "version: 1\napps:\n  - appID: a\n    appDirPath: ../services/a\n    daprHTTPPort: 1\n    daprGRPCPort: 2\n    daprInternalGRPCPort: 3\n",
			wantErrs: []string{`app "a" must set daprHTTPPort, daprGRPCPort, daprInternalGRPCPort and metricsPort`},
		},
		{
			name:     "daprHTTPPort missing",
			runFile:  "version: 1\napps:\n  - appID: a\n    appDirPath: ../services/a\n    daprGRPCPort: 2\n    daprInternalGRPCPort: 3\n    metricsPort: 4\n",
			wantErrs: []string{`app "a" must set daprHTTPPort`},
		},
		{
			name:     "resources path of an unknown profile",
			runFile:  "version: 1\ncommon:\n  resourcesPaths: [../components/local]\napps:\n  - appID: a\n    appDirPath: ../services/a\n" + ports,
			profile:  "nope",
			wantErrs: []string{`app "a": resources path`, "components/nope", `PROFILE="nope"`},
		},
		{
			name:     "envFile, which the CLI has never read",
			runFile:  "version: 1\ncommon:\n  envFile: local.env\napps:\n  - appID: a\n    appDirPath: ../services/a\n" + ports,
			wantErrs: []string{"field envFile not found", "each field must be one the Dapr CLI reads"},
		},
		{
			name:     "an app's field under common, where the CLI ignores it",
			runFile:  "version: 1\ncommon:\n  command: [./app]\napps:\n  - appID: a\n    appDirPath: ../services/a\n" + ports,
			wantErrs: []string{"field command not found"},
		},
		{
			name:     "a misspelt field",
			runFile:  "version: 1\napps:\n  - appID: a\n    appDirPath: ../services/a\n    enableAPILogging: true\n" + ports,
			wantErrs: []string{"field enableAPILogging not found"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			files := map[string]string{
				"services/a/":       "",
				"services/file.txt": "not a folder",
				"components/local/": "",
				"work/":             "",
			}
			if tt.runFile != "" {
				files["dapr/dapr.yaml"] = tt.runFile
			}
			writeFiles(t, root, files)

			apps, err := LoadRunFile(filepath.Join(root, "dapr", "dapr.yaml"), tt.profile)
			require.Error(t, err)
			assert.Nil(t, apps)
			for _, want := range tt.wantErrs {
				assert.ErrorContains(t, err, want)
			}
		})
	}
}

func TestLoadRunFileOfTheRepository(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)

	apps, err := LoadRunFile(filepath.Join(root, "dapr", "dapr.yaml"), "local")
	require.NoError(t, err)
	byID := map[string]App{}
	for _, a := range apps {
		byID[a.AppID] = a
	}

	tests := []struct {
		appID                                              string
		appPort, httpPort, grpcPort, internalPort, metrics int
		env                                                map[string]string
	}{
		{appID: "gateway", appPort: 8080, httpPort: 3500, grpcPort: 50100, internalPort: 50200, metrics: 9100, env: map[string]string{"RATE_LIMIT_RPS": "50"}},
		{appID: "users", appPort: 8081, httpPort: 3501, grpcPort: 50101, internalPort: 50201, metrics: 9101, env: map[string]string{"STATE_STORE": "users-store"}},
		{appID: "catalog", appPort: 8082, httpPort: 3502, grpcPort: 50102, internalPort: 50202, metrics: 9102, env: map[string]string{"STATE_STORE": "catalog-store"}},
		{appID: "payments", appPort: 8084, httpPort: 3504, grpcPort: 50104, internalPort: 50204, metrics: 9104, env: map[string]string{"STATE_STORE": "payments-store"}},
		{appID: "notifications", appPort: 8085, httpPort: 3505, grpcPort: 50105, internalPort: 50205, metrics: 9105, env: map[string]string{"STATE_STORE": "notifications-store"}},
	}
	for _, tt := range tests {
		t.Run(tt.appID, func(t *testing.T) {
			t.Parallel()
			a, ok := byID[tt.appID]
			require.True(t, ok, "app %s in the run file", tt.appID)
			assert.Equal(t, filepath.Join(root, "services", tt.appID), a.AppDirPath)
			assert.Equal(t, tt.appPort, a.AppPort)
			assert.Equal(t, tt.httpPort, a.HTTPPort)
			assert.Equal(t, tt.grpcPort, a.GRPCPort)
			assert.Equal(t, tt.internalPort, a.InternalGRPCPort)
			assert.Equal(t, tt.metrics, a.MetricsPort)
			assert.Equal(t, []string{"../../.bin/apps/" + tt.appID}, a.Command, "its binary, which the CLI can stop")
			assert.Equal(t, filepath.Join(root, "dapr", "config.yaml"), a.CommonConfigFile)
			assert.Equal(t, []string{filepath.Join(root, "components", "local"), filepath.Join(root, "dapr", "resources")}, a.ResourcesPaths)
			assert.Equal(t, "127.0.0.1:50005", a.PlacementHostAddr)
			assert.Equal(t, "127.0.0.1:50006", a.SchedulerHostAddr)
			assert.True(t, a.EnableAppHealth)
			assert.Equal(t, "/healthz", a.AppHealthPath)
			for k, v := range tt.env {
				assert.Equal(t, v, a.Env[k], k)
			}
		})
	}
}

// TestRunFileConfigurationsOfTheRepository holds every app of the run file
// to its own Configuration (access control is enforced by the callee's
// sidecar with the callee's policies), with mTLS on and default deny, and
// checks each policy is complete: daprd refuses a policy without trust
// domain or namespace, and denies an operation without an action.
func TestRunFileConfigurationsOfTheRepository(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	apps, err := LoadRunFile(filepath.Join(root, "dapr", "dapr.yaml"), "local")
	require.NoError(t, err)

	for _, a := range apps {
		t.Run(a.AppID, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, filepath.Join(root, "dapr", "config", a.AppID+".yaml"), a.ConfigFile)
			b, err := os.ReadFile(a.ConfigFile)
			require.NoError(t, err)
			var c struct {
				Metadata struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
				Spec struct {
					MTLS struct {
						Enabled bool `yaml:"enabled"`
					} `yaml:"mtls"`
					AccessControl struct {
						DefaultAction string `yaml:"defaultAction"`
						TrustDomain   string `yaml:"trustDomain"`
						Policies      []struct {
							AppID         string `yaml:"appId"`
							TrustDomain   string `yaml:"trustDomain"`
							Namespace     string `yaml:"namespace"`
							DefaultAction string `yaml:"defaultAction"`
							Operations    []struct {
								Name     string   `yaml:"name"`
								HTTPVerb []string `yaml:"httpVerb"`
								Action   string   `yaml:"action"`
							} `yaml:"operations"`
						} `yaml:"policies"`
					} `yaml:"accessControl"`
					NameResolution struct {
						Component string `yaml:"component"`
					} `yaml:"nameResolution"`
					Tracing struct {
						SamplingRate string `yaml:"samplingRate"`
						Otel         struct {
							EndpointAddress string `yaml:"endpointAddress"`
							Protocol        string `yaml:"protocol"`
							IsSecure        bool   `yaml:"isSecure"`
						} `yaml:"otel"`
					} `yaml:"tracing"`
					Metrics struct {
						Enabled bool `yaml:"enabled"`
						HTTP    struct {
							IncreasedCardinality *bool `yaml:"increasedCardinality"`
						} `yaml:"http"`
					} `yaml:"metrics"`
				} `yaml:"spec"`
			}
			require.NoError(t, yaml.Unmarshal(b, &c))
			assert.Equal(t, a.AppID, c.Metadata.Name)
			assert.True(t, c.Spec.MTLS.Enabled, "mTLS")
			assert.Equal(t, "deny", c.Spec.AccessControl.DefaultAction)
			assert.Equal(t, "public", c.Spec.AccessControl.TrustDomain)
			assert.Equal(t, "sqlite", c.Spec.NameResolution.Component, "the shared name resolution")
			assert.Equal(t, "1", c.Spec.Tracing.SamplingRate, "every request traced")
			assert.Equal(t, "127.0.0.1:4318", c.Spec.Tracing.Otel.EndpointAddress, "the apps' OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT)")
			assert.Equal(t, "http", c.Spec.Tracing.Otel.Protocol)
			assert.False(t, c.Spec.Tracing.Otel.IsSecure)
			assert.True(t, c.Spec.Metrics.Enabled)
			if assert.NotNil(t, c.Spec.Metrics.HTTP.IncreasedCardinality, "set explicitly") {
				assert.False(t, *c.Spec.Metrics.HTTP.IncreasedCardinality, "no raw paths (ids) in sidecar metric labels")
			}
			for _, p := range c.Spec.AccessControl.Policies {
				assert.NotEqual(t, a.AppID, p.AppID, "an app does not invoke itself")
				assert.Equal(t, "public", p.TrustDomain, "policy for %s", p.AppID)
				assert.Equal(t, "default", p.Namespace, "policy for %s", p.AppID)
				assert.Equal(t, "deny", p.DefaultAction, "policy for %s", p.AppID)
				for _, op := range p.Operations {
					assert.Equal(t, "allow", op.Action, "%s %s", p.AppID, op.Name)
					assert.NotEmpty(t, op.HTTPVerb, "%s %s", p.AppID, op.Name)
					for _, v := range op.HTTPVerb {
						assert.Equal(t, strings.ToUpper(v), v, "daprd compares verbs in upper case")
					}
				}
			}
		})
	}
}
