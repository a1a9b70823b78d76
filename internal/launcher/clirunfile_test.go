package launcher

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The copy of dapr/dapr.yaml that `make infra` writes for the Dapr CLI, for
// another name resolution or another profile, is the same system, read from
// anywhere, with only each app's Configuration and the profile's components
// changed, and holds only fields the CLI reads.
func TestCLIRunFileForAnotherNameResolutionOrProfile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ profile, nameResolution string }{
		{"local", "consul"},
		{"redis", "sqlite"},
		{"postgres", "mdns"},
	} {
		t.Run(tc.profile+" "+tc.nameResolution, func(t *testing.T) {
			t.Parallel()
			original := filepath.Join(repoRoot(t), "dapr", "dapr.yaml")
			// What the launcher runs for the profile: the CLI must run the same.
			want, err := LoadRunFile(original, tc.profile)
			require.NoError(t, err)

			dir := t.TempDir()
			configs := map[string]string{}
			for _, a := range want {
				configs[a.AppID] = filepath.Join(dir, a.AppID+".yaml")
			}
			b, err := cliRunFileWith(original, configs, tc.profile, tc.nameResolution)
			require.NoError(t, err)
			assertOnlyCLIFields(t, b)
			assert.True(t, strings.HasPrefix(string(b), "# Made by `make infra PROFILE="+tc.profile+" NAMERESOLUTION="+tc.nameResolution+"`"), "%.200s", b)
			assert.NotContains(t, string(b), "dapr run -f dapr/dapr.yaml", "the original's instructions are not copied")
			assert.Contains(t, string(b), "- "+filepath.Join(repoRoot(t), "components", tc.profile)+" ", "the profile's components")

			// Somewhere else entirely: every path in it is absolute. Read as
			// it is (the CLI swaps no profile).
			copyPath := filepath.Join(dir, "elsewhere", "dapr.yaml")
			require.NoError(t, os.MkdirAll(filepath.Dir(copyPath), 0o755))
			require.NoError(t, os.WriteFile(copyPath, b, 0o644))
			got, err := LoadRunFile(copyPath, "")
			require.NoError(t, err)

			require.Len(t, got, len(want))
			for i := range want {
				assert.Equal(t, configs[want[i].AppID], got[i].ConfigFile, "app %s runs with its copy", want[i].AppID)
				w := want[i]
				w.ConfigFile = got[i].ConfigFile
				assert.Equal(t, w, got[i], "app %s is otherwise the same", w.AppID)
			}
		})
	}
}

func TestCLIRunFileNeedsEveryAppsConfiguration(t *testing.T) {
	t.Parallel()
	_, err := cliRunFileWith(filepath.Join(repoRoot(t), "dapr", "dapr.yaml"), map[string]string{"gateway": "/x/gateway.yaml"}, "local", "consul")
	assert.ErrorContains(t, err, "no Configuration for app")
}
