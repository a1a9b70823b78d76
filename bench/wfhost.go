package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/dapr/durabletask-go/workflow"

	"github.com/daprshop/daprshop/internal/daprproc"
	"github.com/daprshop/daprshop/internal/launcher"
	"github.com/daprshop/daprshop/internal/sidecar"
)

// wfHost is a workflow engine of the benchmark's own: a placement, a
// scheduler and one daprd with the project's workflow store and tracing
// (noop_config.go), and a worker in this process running the workflows
// and activities of its registry. The no-op ceiling and the Dapr series
// on DTM's participant calls run on one each.
type wfHost struct {
	wf   *workflow.Client
	tail func(n int) string // the daprd's last lines
	// pids are its processes' and the benchmark's own, whose worker runs
	// the workflows and activities (for their CPU per saga, cpu.go).
	pids map[string]int
	stop func()
}

// With sys, the daprd joins that running system (its placement, scheduler
// and sentry: launcher.System.Join) instead.
func startWorkflowHost(ctx context.Context, cfg config, appID string, r *workflow.Registry, sys *launcher.System) (_ *wfHost, err error) {
	var stops []func()
	h := &wfHost{stop: func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}}
	defer func() {
		if err != nil {
			h.stop()
		}
	}()
	dir, err := os.MkdirTemp("", "bench-"+appID+"-")
	if err != nil {
		return nil, err
	}
	stops = append(stops, func() { os.RemoveAll(dir) })
	var o daprdOptions
	if sys != nil {
		// The system's control plane and identity, as its apps have.
		d, env, err := sys.Join(daprproc.Daprd{})
		if err != nil {
			return nil, err
		}
		o = daprdOptions{placement: d.Placement, scheduler: d.Scheduler, sentry: d.SentryAddress, env: env}
		h.pids = systemPIDs(sys)
	} else {
		var stop func()
		o, h.pids, stop, err = startControlPlane(cfg, dir)
		stops = append(stops, stop)
		if err != nil {
			return nil, err
		}
	}
	store, err := noopStore(cfg.root)
	if err != nil {
		return nil, err
	}
	config, err := noopConfig(cfg.root)
	if err != nil {
		return nil, err
	}
	res := filepath.Join(dir, "resources")
	if err := writeFiles(res, map[string]string{"store.yaml": store}); err != nil {
		return nil, err
	}
	if err := writeFiles(dir, map[string]string{"config.yaml": config}); err != nil {
		return nil, err
	}
	o.appID, o.resources, o.config = appID, res, filepath.Join(dir, "config.yaml")
	d, err := startDaprd(cfg.daprd, o)
	if err != nil {
		return nil, err
	}
	stops = append(stops, d.stop)
	h.pids[appID+".daprd"] = d.PID()
	h.tail = d.tail
	client, err := sidecar.Dial(sidecar.Config{Host: "127.0.0.1", HTTPPort: strconv.Itoa(d.HTTPPort), GRPCPort: strconv.Itoa(d.GRPCPort), APIToken: daprToken})
	if err != nil {
		return nil, err
	}
	stops = append(stops, func() { client.Close() })
	h.wf = workflow.NewClientWithLogger(client.GrpcClientConn(), quietLogger{})
	wctx, cancel := context.WithCancel(ctx)
	stops = append(stops, cancel)
	if err := retry(wctx, func() error { return h.wf.StartWorker(wctx, r) }); err != nil {
		return nil, fmt.Errorf("start the workflow worker: %w", err)
	}
	return h, nil
}

// startControlPlane runs a placement and a scheduler of the benchmark's
// own, in dir: the daprd options that reach them, their pids (with the
// benchmark's) and how to stop them.
func startControlPlane(cfg config, dir string) (o daprdOptions, pids map[string]int, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	ports, err := freePorts(10)
	if err != nil {
		return o, nil, stop, err
	}
	pl := daprproc.Placement{Port: ports[0], HealthzPort: ports[1], MetricsPort: ports[2], RaftPort: ports[3], LogLevel: "warn"}
	placement, err := startChild(pl.Spec(filepath.Join(cfg.bin, "placement"), dir, nil), time.Minute)
	if err != nil {
		return o, nil, stop, err
	}
	stops = append(stops, placement.stop)
	sc := daprproc.Scheduler{
		Port: ports[4], HealthzPort: ports[5], MetricsPort: ports[6], EtcdClientPort: ports[7], EtcdPeerPort: ports[8],
		EtcdDataDir: filepath.Join(dir, "etcd"), IdentityDir: filepath.Join(dir, "scheduler-identity"), LogLevel: "warn",
	}
	scheduler, err := startChild(sc.Spec(filepath.Join(cfg.bin, "scheduler"), dir, nil), time.Minute)
	if err != nil {
		return o, nil, stop, err
	}
	stops = append(stops, scheduler.stop)
	pids = map[string]int{loadGenerator: os.Getpid(), "placement": placement.PID(), "scheduler": scheduler.PID()}
	return daprdOptions{placement: pl.Addr(), scheduler: sc.Addr()}, pids, stop, nil
}
