package launcher

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestSpliceNameResolution(t *testing.T) {
	t.Parallel()
	block := &yaml.Node{}
	require.NoError(t, yaml.Unmarshal([]byte("component: mdns\nversion: v1\n"), block))
	tests := []struct {
		name, config string
	}{
		{"replaces the block", "kind: Configuration\nspec:\n  mtls:\n    enabled: true\n  nameResolution:\n    component: sqlite\n    configuration:\n      connectionString: x.db\n"},
		{"adds a missing block", "kind: Configuration\nspec:\n  mtls:\n    enabled: true\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "c.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tt.config), 0o644))
			out, err := spliceNameResolution(path, block.Content[0])
			require.NoError(t, err)
			var c struct {
				Spec map[string]any `yaml:"spec"`
			}
			require.NoError(t, yaml.Unmarshal(out, &c))
			assert.Equal(t, map[string]any{"component": "mdns", "version": "v1"}, c.Spec["nameResolution"])
			assert.Equal(t, map[string]any{"enabled": true}, c.Spec["mtls"], "the rest is kept")
		})
	}
}

// TestNameResolutionChoices checks each file of dapr/nameresolution/ holds
// a block the launcher can splice, and that the sqlite one is the block
// the Configurations carry (the default).
func TestNameResolutionChoices(t *testing.T) {
	t.Parallel()
	read := func(path string) map[string]any {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		var v map[string]any
		require.NoError(t, yaml.Unmarshal(b, &v))
		return v
	}
	for _, name := range []string{"sqlite", "mdns", "consul"} {
		nr, ok := read(filepath.Join("../../dapr/nameresolution", name+".yaml"))["nameResolution"].(map[string]any)
		require.True(t, ok, "%s.yaml has a nameResolution block", name)
		assert.Equal(t, name, nr["component"])
	}
	want := read("../../dapr/nameresolution/sqlite.yaml")["nameResolution"]
	configs, err := filepath.Glob("../../dapr/config/*.yaml")
	require.NoError(t, err)
	for _, c := range append(configs, "../../dapr/config.yaml") {
		spec, _ := read(c)["spec"].(map[string]any)
		assert.Equal(t, want, spec["nameResolution"], "%s carries the default block", c)
	}
}
