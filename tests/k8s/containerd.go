package k8s

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/daprshop/daprshop/internal/proc"
)

// Containerd is a containerd of the harness's own (Debian's containerd and
// runc), its socket and state in the namespace's private /run, its images
// and snapshots in a folder of the test's. L4's kubelet talks to it; the
// image tests drive it with ctr.
type Containerd struct {
	Socket    string
	Namespace string
	dir       string
	p         *proc.Process
}

// containerdState is where containerd keeps its socket, its tasks' state
// and runc's: the mount namespace's own /run (netns.go).
const containerdState = "/run/daprshop-containerd"

// StartContainerd starts containerd with its files in dir and returns
// once its socket answers. With cri, its CRI plugin serves a kubelet (L4:
// node.go says how) and ctr works in the kubelet's namespace, k8s.io;
// without, the plugin is off and ctr works in a namespace of its own.
func StartContainerd(ctx context.Context, dir string, log io.Writer, cri bool) (*Containerd, error) {
	for _, b := range []string{"containerd", "ctr", "runc"} {
		if _, err := exec.LookPath(b); err != nil {
			return nil, fmt.Errorf("%s not found: apt-get install containerd runc (.ci/run does)", b)
		}
	}
	c := &Containerd{Socket: filepath.Join(containerdState, "containerd.sock"), Namespace: "daprshop", dir: dir}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
`, filepath.Join(dir, "root"), containerdState, c.Socket)
	if cri {
		c.Namespace = "k8s.io"
		section, err := criSection(dir)
		if err != nil {
			return nil, err
		}
		config += section
	} else {
		config = "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n" + config
	}
	path := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return nil, err
	}
	c.p = proc.New(proc.Spec{
		Name:  "containerd",
		Path:  "containerd",
		Args:  []string{"--config", path, "--log-level", "warn"},
		Ready: proc.Dial("unix", c.Socket),
		Once:  true,
	}, proc.NewLines(log, "k8s", "containerd"), nil)
	c.p.Start()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.p.WaitReady(ctx); err != nil {
		c.p.Stop()
		return nil, err
	}
	return c, nil
}

// ImportAll imports every image archive in dir (make k8s-images).
func (c *Containerd) ImportAll(ctx context.Context, dir string) error {
	archives, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil || len(archives) == 0 {
		return fmt.Errorf("no image archives in %s: run make k8s-images", dir)
	}
	for _, a := range archives {
		if _, err := c.Ctr(ctx, "images", "import", a); err != nil {
			return err
		}
	}
	return nil
}

// Ctr runs ctr against this containerd, in its namespace, and returns what
// it printed; an error carries its stderr.
func (c *Containerd) Ctr(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", c.Socket, "--namespace", c.Namespace}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Container is a container that `ctr run --rm` runs in the foreground:
// ctr exits with the container's exit code, and removes it.
type Container struct {
	ID   string
	Out  *proc.Buffer // what it and ctr printed
	done chan struct{}
	code int
	err  error
}

// Run runs image as container id with ctr's run flags, and args as its
// command when given (else the image's entrypoint).
func (c *Containerd) Run(id, image string, flags []string, args ...string) (*Container, error) {
	a := append([]string{"--address", c.Socket, "--namespace", c.Namespace, "run", "--rm"}, flags...)
	a = append(append(a, image, id), args...)
	cmd := exec.Command("ctr", a...)
	ct := &Container{ID: id, Out: &proc.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = ct.Out, ct.Out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		defer close(ct.done)
		err := cmd.Wait()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			ct.code = exit.ExitCode()
		} else {
			ct.err = err
		}
	}()
	return ct, nil
}

// Terminate sends the container SIGTERM, as the kubelet does first, and
// returns its exit code once it has ended (within a minute).
func (c *Containerd) Terminate(ctx context.Context, ct *Container) (int, error) {
	if _, err := c.Ctr(ctx, "tasks", "kill", "--signal", "SIGTERM", ct.ID); err != nil {
		return 0, err
	}
	select {
	case <-ct.done:
		return ct.code, ct.err
	case <-time.After(time.Minute):
		return 0, fmt.Errorf("%s did not end within a minute of SIGTERM", ct.ID)
	}
}

// Task is a running container's task as `ctr tasks ls` shows it.
type Task struct {
	ID     string
	PID    int
	Status string
}

// Tasks lists the namespace's tasks.
func (c *Containerd) Tasks(ctx context.Context) (map[string]Task, error) {
	out, err := c.Ctr(ctx, "tasks", "ls")
	if err != nil {
		return nil, err
	}
	tasks := map[string]Task{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		pid, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, fmt.Errorf("ctr tasks ls: %q", line)
		}
		tasks[f[0]] = Task{ID: f[0], PID: pid, Status: f[2]}
	}
	return tasks, nil
}

// Stop kills every task left in the namespace, deletes the containers,
// stops containerd, and then ends any runc shim of this containerd that is
// still there (shims leave containerd's process group on purpose: they
// outlive a containerd restart). It returns what it had to kill.
func (c *Containerd) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	if tasks, err := c.Tasks(ctx); err == nil {
		for id := range tasks {
			_, _ = c.Ctr(ctx, "tasks", "kill", "--signal", "SIGKILL", id)
			// A pod's containers may end with its sandbox: gone is fine.
			if _, err := c.Ctr(ctx, "tasks", "delete", "--force", id); err != nil && !strings.Contains(err.Error(), "not found") {
				errs = append(errs, err)
			}
		}
	}
	if out, err := c.Ctr(ctx, "containers", "ls", "--quiet"); err == nil {
		for _, id := range strings.Fields(out) {
			if _, err := c.Ctr(ctx, "containers", "delete", id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	c.p.Stop()
	for _, pid := range c.shims() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		errs = append(errs, fmt.Errorf("a runc shim (pid %d) outlived containerd: killed", pid))
	}
	return errors.Join(errs...)
}

// shims finds the processes whose command line names this containerd's
// socket: its runc shims.
func (c *Containerd) shims() []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.Contains(cmdline, []byte("containerd-shim")) && bytes.Contains(cmdline, []byte(c.Socket)) {
			pids = append(pids, pid)
		}
	}
	return pids
}
