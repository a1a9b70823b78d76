package k8s

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/proc"
)

// The images L4 runs: every one the redis overlay and Redis's manifest
// name, daprd's (the injector adds it) and the pause image (the kubelet's
// sandbox). make k8s-images writes each to .bin/k8s/images/<last path
// element of its name>.tar.
var (
	l4Manifests = []string{"deploy/k8s/overlays/redis", "deploy/k8s/infra/redis"}
	extraImages = []string{SidecarImage, "registry.k8s.io/pause:3.10.1"}
)

// TestImagesRunInContainerd (L4's first step): every image the cluster
// will run, built here without an engine or a registry, is taken by a real
// containerd under the exact name the manifests give, and runs under runc
// as Kubernetes will run it: the apps as uid 65532 on a read-only root,
// answering their health check and ending cleanly on SIGTERM; the state
// store answering its own probe on its socket; Redis as uid 999 writing
// only its volume; pause as 65535.
func TestImagesRunInContainerd(t *testing.T) {
	root := repoRoot(t)
	ctx := context.Background()
	dir := filepath.Join(root, ".bin", "k8s", "images")
	ctd := startContainerd(t)

	names := append(manifestImages(t, root), extraImages...)
	require.GreaterOrEqual(t, len(names), 11, "the redis overlay names 7 apps, the state store and Redis: %v", names)
	for _, name := range names {
		archive := filepath.Join(dir, path.Base(strings.Split(name, ":")[0])+".tar")
		require.FileExists(t, archive, "%s: run make k8s-images", name)
		_, err := ctd.Ctr(ctx, "images", "import", archive)
		require.NoError(t, err)
	}
	listed, err := ctd.Ctr(ctx, "images", "ls", "--quiet")
	require.NoError(t, err)
	for _, name := range names {
		assert.Contains(t, strings.Fields(listed), normalized(name), "containerd holds the image under the name the manifests use")
	}

	for i, name := range names {
		app := path.Base(strings.Split(name, ":")[0])
		if !strings.HasPrefix(name, "ghcr.io/daprshop/") || app == "redisstate" {
			continue
		}
		t.Run(app, func(t *testing.T) {
			port := strconv.Itoa(18080 + i)
			id := "app-" + app
			ct, err := ctd.Run(id, normalized(name), []string{"--net-host", "--read-only",
				"--env", "APP_HOST=127.0.0.1", "--env", "APP_PORT=" + port,
				"--env", "APP_API_TOKEN=app-token", "--env", "DAPR_API_TOKEN=dapr-token"})
			require.NoError(t, err)
			require.NoError(t, awaitProbe(ctx, proc.HTTP("http://127.0.0.1:"+port+"/healthz", http.StatusOK)), "%s", ct.Out)
			assertProcess(t, taskOf(t, ctx, ctd, id).PID, 65532)
			assertStops(t, ctx, ctd, ct)
		})
	}

	t.Run("redisstate", func(t *testing.T) {
		sockets := t.TempDir()
		require.NoError(t, os.Chmod(sockets, 0o777))
		id := "redisstate"
		ct, err := ctd.Run(id, normalized(ghcr("redisstate", names)), []string{"--read-only",
			"--mount", "type=bind,src=" + sockets + ",dst=/tmp/dapr-components-sockets,options=rbind:rw"},
			"/redisstate", "-name", "daprshop-redis")
		require.NoError(t, err)
		// The manifest's readiness probe, run in the container as the
		// kubelet runs it.
		probe := func(ctx context.Context) error {
			_, err := ctd.Ctr(ctx, "tasks", "exec", "--exec-id", fmt.Sprintf("probe-%d", time.Now().UnixNano()), id, "/redisstate", "-probe")
			return err
		}
		require.NoError(t, awaitProbe(ctx, probe), "%s", ct.Out)
		assert.FileExists(t, filepath.Join(sockets, "daprshop-redis.sock"))
		assertProcess(t, taskOf(t, ctx, ctd, id).PID, 65532)
		assertStops(t, ctx, ctd, ct)
	})

	t.Run("redis", func(t *testing.T) {
		data := t.TempDir()
		require.NoError(t, os.Chown(data, 999, 999))
		id := "redis"
		// The manifest's arguments, on the manifest's port.
		ct, err := ctd.Run(id, "docker.io/library/redis:7.4-alpine", []string{"--read-only", "--net-host",
			"--mount", "type=bind,src=" + data + ",dst=/data,options=rbind:rw"},
			"/usr/local/bin/redis-server", "--port", "16379", "--bind", "127.0.0.1", "--requirepass", "secret", "--appendonly", "yes", "--dir", "/data")
		require.NoError(t, err)
		require.NoError(t, awaitProbe(ctx, proc.TCP("127.0.0.1:16379")), "%s", ct.Out)
		out, err := exec.CommandContext(ctx, "redis-cli", "-p", "16379", "-a", "secret", "--no-auth-warning", "set", "k", "v").CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Equal(t, "OK", strings.TrimSpace(string(out)))
		assertProcess(t, taskOf(t, ctx, ctd, id).PID, 999)
		assertStops(t, ctx, ctd, ct)
		entries, err := os.ReadDir(data)
		require.NoError(t, err)
		assert.NotEmpty(t, entries, "the append-only file is on the volume")
	})

	t.Run("pause", func(t *testing.T) {
		id := "pause"
		ct, err := ctd.Run(id, "registry.k8s.io/pause:3.10.1", []string{"--read-only"})
		require.NoError(t, err)
		running := func(ctx context.Context) error {
			tasks, err := ctd.Tasks(ctx)
			if err != nil || tasks[id].Status != "RUNNING" {
				return fmt.Errorf("pause is not running: %v %v", tasks, err)
			}
			return nil
		}
		require.NoError(t, awaitProbe(ctx, running), "%s", ct.Out)
		assertProcess(t, taskOf(t, ctx, ctd, id).PID, 65535)
		assertStops(t, ctx, ctd, ct)
	})
}

// TestImagesAreReproducible: building an image again gives the same
// archive, byte for byte, as make k8s-images wrote.
func TestImagesAreReproducible(t *testing.T) {
	root := repoRoot(t)
	archive := filepath.Join(root, ".bin", "k8s", "images", "orders.tar")
	require.FileExists(t, archive, "run make k8s-images")
	again := filepath.Join(t.TempDir(), "orders.tar")
	cmd := exec.Command(filepath.Join(root, ".bin", "k8s", "mkimage"), "-dockerfile", "deploy/Dockerfile", "-context", ".",
		"-build-arg", "SERVICE=orders", "-tag", "ghcr.io/daprshop/orders:0.1.0", "-o", again)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, fileDigest(t, archive), fileDigest(t, again))
}

// manifestImages renders the manifests L4 applies, as kubectl kustomize
// does, and returns every image they name.
func manifestImages(t *testing.T, root string) []string {
	t.Helper()
	re := regexp.MustCompile(`(?m)(?:image: |"image": ")([^\s"]+)`)
	var names []string
	for _, m := range l4Manifests {
		out, err := exec.Command(filepath.Join(root, ".bin", "k8s", "kubectl"), "kustomize", filepath.Join(root, m)).Output()
		require.NoError(t, err, "kubectl kustomize %s", m)
		for _, sub := range re.FindAllStringSubmatch(string(out), -1) {
			if !slices.Contains(names, sub[1]) {
				names = append(names, sub[1])
			}
		}
	}
	return names
}

// normalized is an image name as containerd and the kubelet spell it.
// (Docker's rule: a name without a slash is an official image; a first
// part without a dot, a colon or "localhost" is a Docker Hub account.)
func normalized(name string) string {
	first, _, slash := strings.Cut(name, "/")
	switch {
	case !slash:
		return "docker.io/library/" + name
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		return "docker.io/" + name
	}
	return name
}

func ghcr(app string, names []string) string {
	for _, n := range names {
		if strings.HasPrefix(n, "ghcr.io/daprshop/"+app+":") {
			return n
		}
	}
	return "ghcr.io/daprshop/" + app + ":missing"
}

func startContainerd(t *testing.T) *Containerd {
	t.Helper()
	log := &proc.Buffer{}
	ctd, err := StartContainerd(context.Background(), t.TempDir(), log, false)
	require.NoError(t, err, "containerd: %s", log.Tail(20))
	t.Cleanup(func() {
		assert.NoError(t, ctd.Stop())
		if t.Failed() {
			t.Logf("containerd's last lines:\n%s", log.Tail(30))
		}
	})
	return ctd
}

// awaitProbe waits until probe passes, for a minute at most.
func awaitProbe(ctx context.Context, probe proc.Probe) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := probe(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready within a minute: %w", err)
		case <-tick.C:
		}
	}
}

func taskOf(t *testing.T, ctx context.Context, ctd *Containerd, id string) Task {
	t.Helper()
	tasks, err := ctd.Tasks(ctx)
	require.NoError(t, err)
	task, ok := tasks[id]
	require.True(t, ok, "no task %s in %v", id, tasks)
	require.Equal(t, "RUNNING", task.Status)
	return task
}

// assertProcess holds a container's process to the user it must run as,
// with a read-only root filesystem.
func assertProcess(t *testing.T, pid, uid int) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	want := fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", uid, uid, uid, uid)
	assert.Contains(t, string(status), want)
	mounts, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	require.NoError(t, err)
	var rootOpts string
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == "/" {
			rootOpts = f[5]
		}
	}
	assert.True(t, strings.HasPrefix(rootOpts, "ro"), "the root filesystem is mounted read-only (%q)", rootOpts)
}

// assertStops holds a container to ending with exit code 0 on SIGTERM.
func assertStops(t *testing.T, ctx context.Context, ctd *Containerd, ct *Container) {
	t.Helper()
	code, err := ctd.Terminate(ctx, ct)
	require.NoError(t, err)
	assert.Equal(t, 0, code, "%s ends with 0 on SIGTERM; it printed:\n%s", ct.ID, ct.Out)
}

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}
