package k8s

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

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
		}
		c.Stop()
		f.Close()
		if t.Failed() {
			t.Logf("the cluster's log is in %s; its last lines:\n%s", logPath, log.Tail(20))
		}
	})
	return c
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
