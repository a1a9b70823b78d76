package check

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	componentsapi "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	"github.com/stretchr/testify/require"
)

// repoRoot is the repository this module lives in.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := RepoRoot(".")
	require.NoError(t, err)
	return root
}

var readRepoOnce = sync.OnceValues(func() (*Repo, error) {
	root, err := RepoRoot(".")
	if err != nil {
		return nil, err
	}
	return ReadRepo(root)
})

func readRepo(t *testing.T) *Repo {
	t.Helper()
	repo, err := readRepoOnce()
	require.NoError(t, err)
	return repo
}

// dirs lists the folders below deploy/k8s/<parent>.
func dirs(t *testing.T, parent string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot(t), "deploy", "k8s", parent))
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, filepath.Join(repoRoot(t), "deploy", "k8s", parent, e.Name()))
		}
	}
	require.NotEmpty(t, out, "no folders in deploy/k8s/%s", parent)
	return out
}

// TestOverlays renders every overlay of deploy/k8s/overlays and runs every
// check on it: a new overlay is checked as soon as it exists.
func TestOverlays(t *testing.T) {
	t.Parallel()
	repo := readRepo(t)
	for _, dir := range dirs(t, "overlays") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			out, err := Render(dir)
			require.NoError(t, err)
			set, problems := Decode(out)
			problems = append(problems, CheckSystem(set, repo, GuideInjector)...)
			require.Empty(t, problems, "%s", problems)
		})
	}
}

// TestTheGuidesOverlay renders the overlay docs/kubernetes.md shows as an
// example (testdata/own-overlay): it must pass every check, like the others.
func TestTheGuidesOverlay(t *testing.T) {
	t.Parallel()
	out, err := Render(filepath.Join("testdata", "own-overlay"))
	require.NoError(t, err)
	set, problems := Decode(out)
	problems = append(problems, CheckSystem(set, readRepo(t), GuideInjector)...)
	require.Empty(t, problems, "%s", problems)
	pubsub := named[*componentsapi.Component](t, set, "pubsub")
	require.Equal(t, "password", metadataValue(pubsub, "authType"), "the guide's patch reached the component")
}

// TestInfra renders every dev server of deploy/k8s/infra and runs the
// checks every workload must pass.
func TestInfra(t *testing.T) {
	t.Parallel()
	for _, dir := range dirs(t, "infra") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			out, err := Render(dir)
			require.NoError(t, err)
			set, problems := Decode(out)
			problems = append(problems, CheckWorkloads(set)...)
			require.Empty(t, problems, "%s", problems)
		})
	}
}

// KnownIgnored are the fields of the local resources (dapr/resources,
// components/local) that Dapr 1.18.2 silently ignores, as found by
// TestLocalResourcesAsDaprdReadsThem. The deploy/k8s copies leave them out
// (they decode strictly, and a cluster's API server would refuse them).
// When one is fixed at its source, remove it here.
var KnownIgnored = []string{}

// TestLocalResourcesAsDaprdReadsThem lists what daprd drops from the local
// resources, and fails when that list changes: a new ignored field is a
// setting that does nothing, and a fixed one should leave KnownIgnored.
func TestLocalResourcesAsDaprdReadsThem(t *testing.T) {
	t.Parallel()
	repo := readRepo(t)
	for _, ig := range repo.Ignored {
		t.Logf("daprd ignores: %s", ig)
	}
	require.ElementsMatch(t, KnownIgnored, repo.Ignored)
}
