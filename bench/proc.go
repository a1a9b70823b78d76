package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process the benchmark started: a sidecar, a proxy, the
// handler, nats-server. Its CPU time and memory are read from /proc.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

// startProc runs bin with args in dir, its output kept for errors.
func startProc(name, dir, bin string, env []string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// stop ends the process group: SIGTERM, then SIGKILL after 10 s.
func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// waitHTTP polls url until it answers one of the wanted statuses.
func (p *proc) waitHTTP(url string, within time.Duration, want ...int) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			for _, w := range want {
				if resp.StatusCode == w {
					return nil
				}
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before %s answered:\n%s", p.name, url, p.out.tail(40))
		case <-ctx.Done():
			return fmt.Errorf("%s: %s did not answer within %s:\n%s", p.name, url, within, p.out.tail(40))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports (the kernel's ABI, whatever
// its internal HZ).
const clockTick = 100

// cpuTime returns the CPU time (user + system) the process has used.
func (p *proc) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields from 3 on: utime is field 14, stime 15.
	ut, err1 := strconv.ParseInt(f[14-3], 10, 64)
	st, err2 := strconv.ParseInt(f[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat", p.cmd.Process.Pid)
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// rss returns the resident set size now and its peak (VmRSS, VmHWM) in
// bytes.
func (p *proc) rss() (now, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			now = kb * 1024
		case "VmHWM:":
			peak = kb * 1024
		}
	}
	return now, peak
}

// freePorts asks the kernel for n free loopback ports at once.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	var ports []int
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// daprToken is the Dapr API token of every sidecar a benchmark starts, as
// in the shop: no daprd of this repository serves calls without one. Every
// client of those sidecars sends it (the check costs the same in each
// series).
var daprToken = "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)

// daprd is a sidecar started for a benchmark.
type daprd struct {
	*proc
	httpPort, grpcPort int
	metricsPort        int
}

func (d *daprd) base() string { return "http://127.0.0.1:" + strconv.Itoa(d.httpPort) }

// daprdOptions say how to start one sidecar.
type daprdOptions struct {
	appID     string
	appPort   int    // 0: no app
	resources string // folder of component YAML
	config    string // Configuration file
	placement string // host:port, or empty for none
	scheduler string // host:port, or empty for none
	env       []string
}

// startDaprd runs the pinned daprd with free loopback ports and waits
// until /v1.0/healthz answers 204.
func startDaprd(bin string, o daprdOptions) (*daprd, error) {
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	args := []string{
		"--app-id=" + o.appID,
		"--dapr-http-port=" + strconv.Itoa(ports[0]),
		"--dapr-grpc-port=" + strconv.Itoa(ports[1]),
		"--dapr-internal-grpc-port=" + strconv.Itoa(ports[2]),
		"--dapr-internal-grpc-listen-address=127.0.0.1",
		"--metrics-port=" + strconv.Itoa(ports[3]),
		"--metrics-listen-address=127.0.0.1",
		"--dapr-listen-addresses=127.0.0.1",
		"--placement-host-address=" + o.placement,
		"--scheduler-host-address=" + o.scheduler,
		"--log-level=warn",
		"--app-protocol=http",
	}
	if o.appPort > 0 {
		args = append(args, "--app-port="+strconv.Itoa(o.appPort), "--app-channel-address=127.0.0.1")
	}
	if o.resources != "" {
		args = append(args, "--resources-path="+o.resources)
	}
	if o.config != "" {
		args = append(args, "--config="+o.config)
	}
	dir := o.resources
	if dir == "" {
		dir = os.TempDir()
	}
	p, err := startProc(o.appID+".daprd", dir, bin, append(slices.Clone(o.env), "DAPR_API_TOKEN="+daprToken), args...)
	if err != nil {
		return nil, err
	}
	d := &daprd{proc: p, httpPort: ports[0], grpcPort: ports[1], metricsPort: ports[3]}
	if err := p.waitHTTP(d.base()+"/v1.0/healthz", 60*time.Second, http.StatusNoContent); err != nil {
		p.stop()
		return nil, err
	}
	return d, nil
}

// writeFiles writes name → content into dir.
func writeFiles(dir string, files map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, content := range files {
		content = strings.ReplaceAll(content, "{{dir}}", dir)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// benchConfig is the sidecars' Configuration in the benchmarks: SQLite
// name resolution (as the local profile), metrics on (the default), no
// tracing, no mTLS, no access control. It is the bare cost of the hop.
const benchConfig = `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: bench
spec:
  metrics:
    enabled: true
    http:
      increasedCardinality: false
  nameResolution:
    component: sqlite
    version: v1
    configuration:
      connectionString: {{dir}}/nameresolution.db
      updateInterval: 2s
`

// syncBuffer is a bytes.Buffer safe for the two pipes writing to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		b.buf.Reset() // keep the tail only
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) tail(lines int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := strings.Split(strings.TrimRight(b.buf.String(), "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
