package launcher

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestTracingChoices checks each file of dapr/tracing/ holds a tracing
// block that samples everything, that the otel one is the block the
// Configurations carry (the default), and that the zipkin one sends to the
// port Jaeger's Zipkin receiver listens on (tools/observe/jaeger.yaml).
func TestTracingChoices(t *testing.T) {
	t.Parallel()
	read := func(path string) map[string]any {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		var v map[string]any
		require.NoError(t, yaml.Unmarshal(b, &v))
		return v
	}
	blocks := map[string]map[string]any{}
	for _, name := range []string{"otel", "zipkin"} {
		tr, ok := read(filepath.Join("../../dapr/tracing", name+".yaml"))["tracing"].(map[string]any)
		require.True(t, ok, "%s.yaml has a tracing block", name)
		assert.Equal(t, "1", tr["samplingRate"], "%s samples every request", name)
		assert.Contains(t, tr, name, "%s.yaml configures %s", name, name)
		blocks[name] = tr
	}
	configs, err := filepath.Glob("../../dapr/config/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, configs)
	for _, c := range configs {
		spec, _ := read(c)["spec"].(map[string]any)
		assert.Equal(t, blocks["otel"], spec["tracing"], "%s carries the default block", c)
	}
	zipkin := blocks["zipkin"]["zipkin"].(map[string]any)
	assert.Equal(t, "http://"+zipkinAddr+"/api/v2/spans", zipkin["endpointAddress"])
	jaeger := read("../../tools/observe/jaeger.yaml")
	receivers := jaeger["receivers"].(map[string]any)
	assert.Equal(t, map[string]any{"endpoint": zipkinAddr}, receivers["zipkin"], "Jaeger receives Zipkin where the sidecars send it")
	pipeline := jaeger["service"].(map[string]any)["pipelines"].(map[string]any)["traces"].(map[string]any)
	assert.Contains(t, pipeline["receivers"], "zipkin")
}

// TestUseTracing: the sidecars' Configurations get the zipkin block on top
// of the name resolution's copies, and the default changes nothing.
func TestUseTracing(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "dapr", "tracing"), 0o755))
	frag, err := os.ReadFile("../../dapr/tracing/zipkin.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "dapr", "tracing", "zipkin.yaml"), frag, 0o644))
	cfg := filepath.Join(root, "orders.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("kind: Configuration\nspec:\n  tracing:\n    samplingRate: \"1\"\n    otel:\n      endpointAddress: 127.0.0.1:4318\n  nameResolution:\n    component: mdns\n"), 0o644))

	s := &System{cfg: Config{RootDir: root, Tracing: "otel"}, apps: []App{{AppSettings: AppSettings{AppID: "orders", SharedSettings: SharedSettings{ConfigFile: cfg}}}}}
	require.NoError(t, s.useTracing())
	assert.Equal(t, cfg, s.apps[0].ConfigFile, "the default leaves the Configuration alone")

	s.cfg.Tracing = "zipkin"
	require.NoError(t, s.useTracing())
	assert.Equal(t, filepath.Join(root, ".data", "tracing", "zipkin", "orders.yaml"), s.apps[0].ConfigFile)
	b, err := os.ReadFile(s.apps[0].ConfigFile)
	require.NoError(t, err)
	var c struct {
		Spec map[string]any `yaml:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(b, &c))
	assert.Equal(t, map[string]any{"samplingRate": "1", "zipkin": map[string]any{"endpointAddress": "http://127.0.0.1:9411/api/v2/spans"}}, c.Spec["tracing"])
	assert.Equal(t, map[string]any{"component": "mdns"}, c.Spec["nameResolution"], "the name resolution chosen before is kept")

	s.cfg.Tracing = "jaeger-thrift"
	assert.ErrorContains(t, s.useTracing(), "the choices are the files in dapr/tracing/")
}

// TestCLIRunFileWithTracing: with a tracing other than the default, `make
// infra` writes the CLI's run file next to the Configurations that carry it.
func TestCLIRunFileWithTracing(t *testing.T) {
	t.Parallel()
	root := "/repo"
	for _, tc := range []struct{ profile, nr, tracing, want string }{
		{"local", "", "", "/repo/dapr/dapr.yaml"},
		{"local", "", "otel", "/repo/dapr/dapr.yaml"},
		{"local", "", "zipkin", "/repo/.data/tracing/zipkin/dapr.yaml"},
		{"local", "mdns", "zipkin", "/repo/.data/tracing/zipkin/dapr.yaml"},
		{"local", "mdns", "", "/repo/.data/nameresolution/mdns/dapr.yaml"},
		{"redis", "", "zipkin", "/repo/.data/redis/dapr.yaml"},
	} {
		s := &System{cfg: Config{RootDir: root, RunFile: "/repo/dapr/dapr.yaml", Profile: tc.profile, NameResolution: tc.nr, Tracing: tc.tracing}}
		assert.Equal(t, tc.want, s.CLIRunFile(), "%+v", tc)
	}
}
