package launcher

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// profiles are the folders under components/ a PROFILE can name.
func profiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("../../components")
	require.NoError(t, err)
	var ps []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "secrets" {
			ps = append(ps, e.Name())
		}
	}
	return ps
}

// TestProfilesDifferOnlyInComponents keeps the profiles interchangeable:
// each one declares the same components, by name and scope, as the local
// profile, so that swapping one for another is a change of folder and
// nothing else.
func TestProfilesDifferOnlyInComponents(t *testing.T) {
	t.Parallel()
	shape := func(t *testing.T, profile string) map[string][]string {
		t.Helper()
		res, err := readResources([]string{filepath.Join("../../components", profile)})
		require.NoError(t, err)
		m := map[string][]string{}
		for _, r := range res {
			if r.Kind == "Component" {
				scopes := slices.Clone(r.Scopes)
				sort.Strings(scopes)
				m[r.Metadata.Name] = scopes
			}
		}
		return m
	}
	want := shape(t, "local")
	require.Contains(t, want, "pubsub")
	ps := profiles(t)
	require.Subset(t, ps, []string{"local", "redis", "postgres", "mysql", "kafka"})
	for _, p := range ps {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, want, shape(t, p), "components of %s, by name and scopes", p)
		})
	}
}

// What TestServicesNameNoInfrastructure looks for: component types
// ("state.redis") and stores or brokers by name.
var (
	componentType = regexp.MustCompile(`\b(state|pubsub|bindings|secretstores|configuration|lock|nameresolution|middleware\.http)\.[a-z][a-z0-9.-]*\b`)
	product       = regexp.MustCompile(`(?i)\b(redis|postgres(ql)?|mysql|mariadb|kafka|rabbitmq|amqp|mqtt|mosquitto|nats|jetstream|sqlite|consul|mdns|zookeeper|cosmosdb|dynamodb|mongodb|etcd)\b`)
)

// TestServicesNameNoInfrastructure fails when a file under services/
// mentions a component type or a broker or store by name: services speak
// to the Dapr API and to component names only, which is what lets a profile
// swap the infrastructure with no change to their code.
func TestServicesNameNoInfrastructure(t *testing.T) {
	t.Parallel()
	found := 0
	err := filepath.WalkDir("../../services", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "node_modules" || d.Name() == "dist" {
				return filepath.SkipDir // a Node.js app's dependencies and its build
			}
			return nil
		}
		if strings.Contains(path, string(filepath.Separator)+"testdata"+string(filepath.Separator)) {
			return nil // fuzz corpora: generated input
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found++
		for i, line := range strings.Split(string(b), "\n") {
			// A Go selector (r.state.Get) is not a component type: those
			// are lower-case after the dot and never follow a dot. Nor is
			// npm's package-lock.json.
			for _, m := range componentType.FindAllStringIndex(line, -1) {
				if m[0] > 0 && (line[m[0]-1] == '.' || line[m[0]-1] == '-') {
					continue
				}
				assert.Fail(t, "a service names a component type", "%s:%d: %s", path, i+1, strings.TrimSpace(line))
			}
			if m := product.FindString(line); m != "" {
				assert.Fail(t, "a service names a store or broker", "%s:%d: %q in %s", path, i+1, m, strings.TrimSpace(line))
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, found, 50, "the walk read the services' files")
}

// TestInfrastructureCheckCanFail feeds the patterns of the check above a
// line of each kind it must catch, and a Go selector it must let pass.
func TestInfrastructureCheckCanFail(t *testing.T) {
	t.Parallel()
	for _, line := range []string{"  type: state.sqlite", "// the Redis stream", `dial("nats://x")`, "pubsub.kafka"} {
		assert.True(t, componentType.MatchString(line) || product.MatchString(line), "caught: %s", line)
	}
	assert.False(t, product.MatchString("items, err := r.state.Get(ctx, key)"))
}
