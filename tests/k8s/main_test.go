package k8s

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/proc"
)

// TestMain runs the tests inside a network namespace of their own (see
// Reexec): the first run starts the second, inside it.
func TestMain(m *testing.M) {
	if !InNamespace() {
		code, err := Reexec()
		if err != nil {
			fmt.Fprintln(os.Stderr, "k8s:", err)
		}
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// startCluster starts the API server and etcd for a test (L1).
func startCluster(t *testing.T) *Cluster {
	t.Helper()
	return startClusterWith(t, Options{})
}

// startClusterWith starts the cluster o asks for and stops it when the
// test ends; its log goes to tests/logs/k8s-<test>.log.
func startClusterWith(t *testing.T, o Options) *Cluster {
	t.Helper()
	root := repoRoot(t)
	logDir := filepath.Join(root, "tests", "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(logDir, "k8s-"+t.Name()+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	log := &proc.Buffer{}
	o.Root, o.Dir, o.Log = root, t.TempDir(), io.MultiWriter(f, log)
	c, err := Start(context.Background(), o)
	if err != nil {
		f.Close()
		t.Fatalf("start the cluster: %v\nits last lines:\n%s", err, log.Tail(20))
	}
	t.Cleanup(func() {
		if t.Failed() {
			// What the cluster held when the test failed, into its log.
			for _, args := range [][]string{
				{"get", "nodes,pods,pdb,hpa,endpointslices", "-A", "-o", "wide"},
				{"get", "events", "-A", "--sort-by=.lastTimestamp"},
			} {
				out, stderr, _ := c.Kubectl(context.Background(), "", args...)
				fmt.Fprintf(f, "--- kubectl %v\n%s%s\n", args, out, stderr)
			}
			dumpPodLogs(c, f)
		}
		c.Stop()
		f.Close()
		if t.Failed() {
			t.Logf("the cluster's log is in %s; its last lines:\n%s", logPath, log.Tail(20))
		}
	})
	return c
}

// startWithDapr starts the cluster o asks for, installs Dapr's CRDs and
// starts its control plane, and returns it with a context that ends after
// within.
func startWithDapr(t *testing.T, o Options, within time.Duration) (*Cluster, context.Context) {
	t.Helper()
	c := startClusterWith(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	t.Cleanup(cancel)
	InstallDaprCRDs(t, ctx, c)
	require.NoError(t, c.StartDapr(ctx), "the Dapr control plane")
	return c, ctx
}

// dumpPodLogs writes the last lines of every container of every pod that
// is not Ready, and of its previous run if it restarted.
func dumpPodLogs(c *Cluster, w io.Writer) {
	ctx := context.Background()
	out, _, err := c.Kubectl(ctx, "", "get", "pods", "-A", "--field-selector=status.phase=Running", "-o",
		`jsonpath={range .items[*]}{.metadata.namespace} {.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
	if err != nil {
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] == "True" {
			continue
		}
		for _, previous := range []string{"--previous=false", "--previous=true"} {
			logs, stderr, _ := c.Kubectl(ctx, "", "-n", f[0], "logs", f[1], "--all-containers", "--prefix", "--tail=40", previous)
			fmt.Fprintf(w, "--- kubectl -n %s logs %s %s\n%s%s\n", f[0], f[1], previous, logs, stderr)
		}
	}
}

// repoRoot finds the folder holding the services' go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's folder")
		}
		dir = parent
	}
}
