package launcher

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The fields the Dapr CLI's run-file parser reads, section by section,
// copied from dapr/cli at bc695e9792f8c4dc5ea9d8984b2d13ab87176cff
// (master, 2026-07-23), since the CLI's module cannot be imported here:
//   - pkg/runfileconfig/run_file_config.go: RunFileConfig (top level), Common
//     (which inlines standalone.SharedRunConfig only), App (which inlines
//     standalone.RunConfig and ContainerConfiguration, and adds appDirPath);
//   - pkg/standalone/run.go: RunConfig (SharedRunConfig inline, plus the
//     app-only fields) and SharedRunConfig.
//
// The CLI decodes with gopkg.in/yaml.v2, not strictly: any other key, or a
// key in the wrong section (an app's `command` under `common`), is ignored
// without a word. That is how `common.envFile` (dapr/cli#1369, never
// merged) once made the API tokens reach neither daprd nor the apps.
var (
	cliTopLevelFields = []string{"version", "name", "common", "apps"}
	cliSharedFields   = []string{
		"configFilePath", "appProtocol", "apiListenAddresses", "enableProfiling", "logLevel",
		"appMaxConcurrency", "placementHostAddress", "resourcesPath", "resourcesPaths", "appSSL",
		"maxBodySize", "readBufferSize", "enableAppHealthCheck", "appHealthCheckPath",
		"appHealthProbeInterval", "appHealthProbeTimeout", "appHealthThreshold", "enableApiLogging",
		"runtimePath", "env", "daprdLogDestination", "appLogDestination", "schedulerHostAddress",
	}
	cliAppOnlyFields = []string{
		"appID", "appChannelAddress", "appPort", "daprHTTPPort", "daprGRPCPort", "profilePort",
		"command", "metricsPort", "unixDomainSocket", "daprInternalGRPCPort",
		"containerImage", "containerImagePullPolicy", "createService",
		"appDirPath",
	}
)

// yamlFields lists the yaml keys of a struct type, descending into inline
// fields.
func yamlFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" {
			out = append(out, yamlFields(f.Type)...)
			continue
		}
		require.NotEmpty(nil, name, "field %s.%s has no yaml name", t.Name(), f.Name)
		out = append(out, name)
	}
	return out
}

// TestRunFileDeclaresExactlyTheCLIFields: the launcher's run-file types,
// which it decodes strictly, hold the CLI's fields and no others, in the
// same sections. So a run file the launcher accepts means the same to the
// CLI, and a field the launcher cannot act on is one the CLI has too.
func TestRunFileDeclaresExactlyTheCLIFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		section string
		typ     reflect.Type
		want    []string
	}{
		{"top level", reflect.TypeFor[RunFile](), cliTopLevelFields},
		{"common", reflect.TypeFor[SharedSettings](), cliSharedFields},
		{"apps[]", reflect.TypeFor[AppSettings](), slices.Concat(cliSharedFields, cliAppOnlyFields)},
	}
	for _, tt := range tests {
		t.Run(tt.section, func(t *testing.T) {
			t.Parallel()
			assert.ElementsMatch(t, tt.want, yamlFields(tt.typ))
		})
	}
}

// TestRunFileOfTheRepositoryUsesOnlyCLIFields walks dapr/dapr.yaml itself:
// every key, in every section, is one the Dapr CLI reads there.
func TestRunFileOfTheRepositoryUsesOnlyCLIFields(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "dapr", "dapr.yaml"))
	require.NoError(t, err)
	assertOnlyCLIFields(t, b)
}

// assertOnlyCLIFields checks that every key of the run file b, in every
// section, is one the Dapr CLI reads there.
func assertOnlyCLIFields(t *testing.T, b []byte) {
	t.Helper()
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(b, &doc))

	keys := func(v any) []string {
		m, ok := v.(map[string]any)
		require.True(t, ok, "a mapping, got %T", v)
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	assert.Subset(t, cliTopLevelFields, keys(doc), "top-level fields")
	assert.Subset(t, cliSharedFields, keys(doc["common"]), "fields under common")
	apps, ok := doc["apps"].([]any)
	require.True(t, ok, "apps is a list")
	require.NotEmpty(t, apps)
	for _, a := range apps {
		assert.Subset(t, slices.Concat(cliSharedFields, cliAppOnlyFields), keys(a), "fields of app %v", a.(map[string]any)["appID"])
	}
}
