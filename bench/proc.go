package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/daprshop/daprshop/internal/daprproc"
	"github.com/daprshop/daprshop/internal/proc"
)

// child is a process the benchmark started (internal/proc runs it once):
// a sidecar, a proxy, the handler, nats-server, DTM. Its CPU time and
// memory are read from /proc.
type child struct{ *proc.Started }

// startChild runs spec and waits until it is ready (its Ready probe) or
// within is over; the error then carries its last lines.
func startChild(spec proc.Spec, within time.Duration) (*child, error) {
	c, err := proc.Run(context.Background(), spec, within)
	if err != nil {
		return nil, err
	}
	return &child{c}, nil
}

// stop ends the process group: SIGTERM, then SIGKILL.
func (c *child) stop() {
	if c != nil {
		c.Stop()
	}
}

// tail is its last n lines of output.
func (c *child) tail(n int) string { return c.Out.Tail(n) }

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports (the kernel's ABI, whatever
// its internal HZ).
const clockTick = 100

// cpuTime returns the CPU time (user + system) the process has used.
func (p *child) cpuTime() (time.Duration, error) { return cpuOfPID(p.PID()) }

// rss returns the resident set size now and its peak (VmRSS, VmHWM) in
// bytes.
func (p *child) rss() (now, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
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
func freePorts(n int) ([]int, error) { return proc.FreePorts(n) }

// daprToken is the Dapr API token of every sidecar a benchmark starts, as
// in the shop: no daprd of this repository serves calls without one. Every
// client of those sidecars sends it (the check costs the same in each
// series).
var daprToken = "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)

// daprd is a sidecar started for a benchmark.
type daprd struct {
	*child
	daprproc.Daprd
}

func (d *daprd) base() string { return d.HTTPBase() }

// daprdOptions say how to start one sidecar.
type daprdOptions struct {
	appID     string
	appPort   int    // 0: no app
	resources string // folder of component YAML
	config    string // Configuration file
	placement string // host:port, or empty for none
	scheduler string // host:port, or empty for none
	sentry    string // host:port: mTLS with sentry's identity, or empty for none
	env       []string
	profiling bool // serve pprof on a free port (daprd's --enable-profiling)
}

// startDaprd runs the pinned daprd with free loopback ports and waits
// until /v1.0/healthz answers 204.
func startDaprd(bin string, o daprdOptions) (*daprd, error) {
	d := daprproc.Daprd{
		AppID:           o.appID,
		ListenAddresses: "127.0.0.1",
		AppPort:         o.appPort,
		Config:          o.config,
		Placement:       o.placement,
		Scheduler:       o.scheduler,
		SentryAddress:   o.sentry,
		LogLevel:        "warn",
	}
	if o.appPort > 0 {
		d.AppChannelAddress = "127.0.0.1"
	}
	if o.resources != "" {
		d.ResourcesPaths = []string{o.resources}
	}
	d, err := d.WithFreePorts()
	if err != nil {
		return nil, err
	}
	if o.profiling {
		ports, err := freePorts(5) // one of them is not among the four just taken
		if err != nil {
			return nil, err
		}
		for _, p := range ports {
			if !slices.Contains([]int{d.HTTPPort, d.GRPCPort, d.InternalGRPCPort, d.MetricsPort}, p) {
				d.ProfilePort = p
				break
			}
		}
	}
	dir := o.resources
	if dir == "" {
		dir = os.TempDir()
	}
	spec := d.Spec(bin, dir, append(append(os.Environ(), o.env...), "DAPR_API_TOKEN="+daprToken))
	spec.Ready = proc.HTTP(d.HealthzURL(), http.StatusNoContent)
	c, err := startChild(spec, 60*time.Second)
	if err != nil {
		return nil, err
	}
	return &daprd{child: c, Daprd: d}, nil
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
` + benchNameResolution

// benchNameResolution is benchConfig's name resolution block.
const benchNameResolution = `  nameResolution:
    component: sqlite
    version: v1
    configuration:
      connectionString: {{dir}}/nameresolution.db
      updateInterval: 6s
      timeout: 3s
`
