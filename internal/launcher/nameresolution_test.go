package launcher

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestSpliceSpec(t *testing.T) {
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
			out, err := spliceSpec(path, "nameResolution", block.Content[0], "dapr/nameresolution/")
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

// The launcher waits until Consul resolves every app: an app without a
// passing instance, or a Consul that answers badly, keeps it waiting.
func TestConsulResolves(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		answers map[string]string // app id → the body of its health query
		status  int
		wantErr string
	}{
		{"every app passing", map[string]string{"a": `[{"Service":{}}]`, "b": `[{}]`}, http.StatusOK, ""},
		{"one app not yet", map[string]string{"a": `[{}]`, "b": `[]`}, http.StatusOK, "no passing instance of b"},
		{"consul fails", map[string]string{"a": `[{}]`, "b": `[{}]`}, http.StatusInternalServerError, "consul health of a"},
		{"not JSON", map[string]string{"a": `<html>`, "b": `[{}]`}, http.StatusOK, "consul health of a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "true", r.URL.Query().Get("passing"))
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.answers[strings.TrimPrefix(r.URL.Path, "/v1/health/service/")])
			}))
			defer srv.Close()
			err := consulResolves(srv.URL, []string{"a", "b"})(t.Context())
			if tc.wantErr == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tc.wantErr)
			}
		})
	}
}
