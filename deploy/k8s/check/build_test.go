package check

import (
	"bufio"
	"fmt"
	"go/version"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
)

// No Docker engine runs where these tests run, so the Dockerfile is read,
// not built: the build it describes was run by hand once (docs/kubernetes.md,
// "What was checked").

// dockerfile is deploy/Dockerfile as instructions: the global ARG defaults and
// each stage's FROM image with its lines.
type dockerfile struct {
	args   map[string]string
	stages []stage
}

type stage struct {
	image string // ARGs expanded
	lines []string
}

func readDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	df := dockerfile{args: map[string]string{}}
	var logical string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			logical += cont + " "
			continue
		}
		line, logical = logical+line, ""
		word, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(word) {
		case "ARG":
			if len(df.stages) == 0 {
				name, def, _ := strings.Cut(strings.TrimSpace(rest), "=")
				df.args[name] = def
			}
		case "FROM":
			fields := strings.Fields(rest)
			fields = slices.DeleteFunc(fields, func(f string) bool { return strings.HasPrefix(f, "--") })
			require.NotEmpty(t, fields, "FROM without an image")
			image := os.Expand(fields[0], func(k string) string { return df.args[k] })
			df.stages = append(df.stages, stage{image: image})
			continue
		}
		if n := len(df.stages); n > 0 {
			df.stages[n-1].lines = append(df.stages[n-1].lines, line)
		}
	}
	require.NoError(t, sc.Err())
	return df
}

// TestDockerfile checks deploy/Dockerfile for what the issue asks of the
// images: base images pinned, a static binary (no cgo) built with
// -trimpath, the app picked by the build argument SERVICE, and a final
// image that runs as a numeric non-root user, which Kubernetes can verify
// against runAsNonRoot.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	df := readDockerfile(t, filepath.Join(root, "deploy", "Dockerfile"))
	require.GreaterOrEqual(t, len(df.stages), 2, "a multi-stage build")
	for _, s := range df.stages {
		assert.Empty(t, checkImage("FROM", s.image), "base image %s", s.image)
	}
	// The build image's Go can build the module (with GOTOOLCHAIN=local it
	// would not fetch a newer one).
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(goMod)
	require.NotNil(t, m, "go.mod has no go line")
	goVersion := df.args["GO_VERSION"]
	assert.GreaterOrEqual(t, version.Compare("go"+goVersion, "go"+string(m[1])), 0,
		"deploy/Dockerfile builds with Go %s; go.mod asks for %s", goVersion, m[1])

	build := strings.Join(df.stages[0].lines, "\n")
	assert.Contains(t, build, "CGO_ENABLED=0")
	assert.Contains(t, build, "-trimpath")
	assert.Contains(t, build, "ARG SERVICE")
	assert.Contains(t, build, `./services/$SERVICE`)

	final := df.stages[len(df.stages)-1]
	var user string
	for _, l := range final.lines {
		if u, ok := strings.CutPrefix(l, "USER "); ok {
			user = strings.TrimSpace(u)
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	n, err := strconv.Atoi(uid)
	require.NoError(t, err, "the final stage's USER %q must be numeric", user)
	assert.NotZero(t, n, "the final stage runs as root")
	// The user the pods run as (base/app-defaults.yaml) is the image's.
	set := renderBase(t)
	for _, d := range Of[*appsv1.Deployment](set) {
		sc := d.Spec.Template.Spec.SecurityContext
		require.NotNil(t, sc)
		require.NotNil(t, sc.RunAsUser)
		assert.Equal(t, int64(n), *sc.RunAsUser, "Deployment/%s runs as another user than the image's", d.Name)
	}
	for _, app := range readRepo(t).Apps {
		if app.Node {
			assertNodeDockerfile(t, filepath.Join(root, "services", app.AppID, "Dockerfile"), n)
			continue
		}
		assert.FileExists(t, filepath.Join(root, "services", app.AppID, "main.go"), "docker build --build-arg SERVICE=%s", app.AppID)
	}
}

// assertNodeDockerfile checks a Node.js app's own Dockerfile for what
// deploy/Dockerfile promises of the Go images: pinned bases, dependencies
// from the lock file without install scripts, no dev dependencies in the
// image, and the pods' numeric non-root user.
func assertNodeDockerfile(t *testing.T, path string, uid int) {
	t.Helper()
	df := readDockerfile(t, path)
	require.GreaterOrEqual(t, len(df.stages), 2, "%s: a multi-stage build", path)
	for _, s := range df.stages {
		assert.Empty(t, checkImage("FROM", s.image), "%s: base image %s", path, s.image)
	}
	build := strings.Join(df.stages[0].lines, "\n")
	assert.Contains(t, build, "npm ci --ignore-scripts", path)
	assert.Contains(t, build, "npm prune --omit=dev", path)
	final := df.stages[len(df.stages)-1]
	assert.Contains(t, final.lines, fmt.Sprintf("USER %d:%d", uid, uid), "%s runs as the pods' user", path)
}

func renderBase(t *testing.T) *Set {
	t.Helper()
	out, err := Render(filepath.Join(repoRoot(t), "deploy", "k8s", "base"))
	require.NoError(t, err)
	set, problems := Decode(out)
	require.Empty(t, problems)
	return set
}

// TestDockerignore checks that the build context holds every file the
// services are built from, and leaves out the rest: .dockerignore is read
// with Docker's rules (the last matching pattern wins; a pattern that
// matches a folder matches everything below it; ** spans folders).
func TestDockerignore(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	require.NoError(t, err)
	ignored := dockerignore(string(b))
	for _, p := range []string{"go.mod", "go.sum", "services/gateway/openapi.yaml"} {
		assert.False(t, ignored(p), "%s must be in the build context", p)
	}
	for _, dir := range []string{"internal", "services"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			isTest := strings.HasSuffix(path, "_test.go") || strings.Contains(rel, "/testdata/")
			assert.Equal(t, isTest, ignored(rel), "%s", rel)
			return nil
		})
		require.NoError(t, err)
	}
	for _, p := range []string{".git/HEAD", ".bin/daprd", ".data/local/users.db", "deploy/Dockerfile", "tests/e2e_test.go", "tools/go.mod", "docs/kubernetes.md", "dapr/local.env"} {
		assert.True(t, ignored(p), "%s must stay out of the build context", p)
	}
}

// dockerignore returns whether a path (slash-separated, relative to the
// context) is left out by the patterns.
func dockerignore(patterns string) func(string) bool {
	type rule struct {
		re      *regexp.Regexp
		include bool
	}
	var rules []rule
	for _, line := range strings.Split(patterns, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		include := strings.HasPrefix(line, "!")
		p := strings.Trim(strings.TrimPrefix(line, "!"), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch c := p[i]; {
			case strings.HasPrefix(p[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(p[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		rules = append(rules, rule{regexp.MustCompile(re.String()), include})
	}
	return func(path string) bool {
		// The path itself or any folder above it.
		var candidates []string
		parts := strings.Split(path, "/")
		for i := 1; i <= len(parts); i++ {
			candidates = append(candidates, strings.Join(parts[:i], "/"))
		}
		ignored := false
		for _, r := range rules {
			if slices.ContainsFunc(candidates, r.re.MatchString) {
				ignored = !r.include
			}
		}
		return ignored
	}
}

// TestImagesAreTheOnesMakeBuilds: the base names each app's image as
// `make images` tags it (IMAGE_REGISTRY/<app>:IMAGE_TAG in the Makefile).
func TestImagesAreTheOnesMakeBuilds(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	value := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `\s*\?=\s*(\S+)\s*$`).FindStringSubmatch(string(b))
		require.NotNil(t, m, "the Makefile sets no %s ?= ...", name)
		return m[1]
	}
	registry, tag := value("IMAGE_REGISTRY"), value("IMAGE_TAG")
	set := renderBase(t)
	for _, d := range Of[*appsv1.Deployment](set) {
		id := d.Spec.Template.Annotations["dapr.io/app-id"]
		for _, c := range d.Spec.Template.Spec.Containers {
			assert.Equal(t, registry+"/"+id+":"+tag, c.Image, "Deployment/%s container %s", d.Name, c.Name)
		}
	}
}
