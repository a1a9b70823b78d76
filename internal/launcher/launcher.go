// Package launcher starts the whole local system from the multi-app run file
// that `dapr run -f` reads: when asked, a trace backend and Prometheus
// (observe.go); the profile's servers (NATS for the local profile), the Dapr
// control plane (sentry when the apps' Configurations
// enable mTLS, placement, scheduler), and every app with its daprd. It waits
// until everything is healthy, prefixes each process's log lines with its
// name, restarts processes that die (with back-off, as a container restart
// policy would), and stops everything in reverse order.
// cmd/launcher is its command line; the end-to-end tests use it directly.
package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/daprshop/daprshop/internal/proc"
)

// DaprVersion is the runtime version the project pins and accepts.
const DaprVersion = "1.18.2"

// Ports of the control plane that the run file has no field for. They sit
// away from the defaults (8080, 9090, 8201, 2379) that apps and other local
// tools tend to hold.
const (
	placementHealthzPort = 58080
	placementMetricsPort = 59090
	placementRaftPort    = 58201
	schedulerHealthzPort = 58081
	schedulerMetricsPort = 59091
	schedulerEtcdPort    = 52379
	schedulerEtcdPeer    = 52380
	natsMonitorOffset    = 4000 // nats monitoring port = client port + 4000
)

// Config says what to start.
type Config struct {
	RunFile string // the multi-app run file (dapr/dapr.yaml)
	Profile string // folder under components/ ("local" when empty)
	RootDir string // repository root: holds .bin/ and .data/, resolves EnvFile
	// EnvFile holds KEY=VALUE lines that every daprd and app inherits, as
	// under the CLI they inherit the environment of `dapr run`: the API
	// tokens (relative to RootDir; dapr/local.env when empty).
	EnvFile string
	BinDir  string    // where the pinned binaries are (RootDir/.bin when empty)
	Output  io.Writer // where prefixed log lines go (os.Stdout when nil)
	// Fresh deletes the profile's data folder first (tests start clean).
	Fresh bool
	// NameResolution names the resolver every sidecar uses: a file in
	// dapr/nameresolution/ ("consul", "mdns"); empty keeps the one in the
	// Configurations (SQLite). "consul" also starts a Consul agent.
	NameResolution string
	// Observe starts a trace backend (Jaeger) and Prometheus first, for
	// every app and sidecar to send their traces to and be scraped by.
	Observe bool
	// Profiling makes every sidecar serve Go's pprof endpoints, as
	// enableProfiling does for one app in the run file (make bench).
	Profiling bool
	// Infra starts only what the Dapr CLI leaves to its user (the profile's
	// servers and streams, Consul, sentry, placement, scheduler), builds the
	// apps' binaries the run file names, and writes the CLI's environment
	// (CLIEnvFile): `make infra`, then `dapr run -f dapr/dapr.yaml`.
	Infra bool
	// Tracing names the format every sidecar exports its spans in: a file
	// in dapr/tracing/ ("otel", the default the Configurations carry, or
	// "zipkin").
	Tracing string
	// ReadyTimeout bounds the wait for every process to be healthy.
	ReadyTimeout time.Duration
}

// System is a running local system.
type System struct {
	cfg  Config
	out  *proc.Lines
	apps []App
	mtls bool // every app's Configuration enables mTLS: sentry runs
	// pluggable: the profile has a pluggable component (redisStateSpec),
	// whose sockets folder every daprd is given.
	pluggable bool
	procs     map[string]*proc.Process
	tiers     [][]string // start order; stopped in reverse
	fatalCh   chan error
	once      sync.Once
	drains    []*traceDrain // spans thrown away when not observing
	// lookPath finds binaries on PATH (exec.LookPath when nil).
	lookPath func(string) (string, error)
}

// Run starts the system, waits until ctx is done or a process keeps dying,
// then stops everything.
func Run(ctx context.Context, cfg Config) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	err = s.Wait(ctx)
	s.Stop()
	return err
}

// Start starts every process and returns once all are healthy. On failure
// it stops what it started.
func Start(ctx context.Context, cfg Config) (*System, error) {
	if cfg.Profile == "" {
		cfg.Profile = "local"
	}
	if cfg.BinDir == "" {
		cfg.BinDir = filepath.Join(cfg.RootDir, ".bin")
	}
	if cfg.Output == nil {
		cfg.Output = os.Stdout
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 2 * time.Minute
	}
	began := time.Now()
	if cfg.EnvFile == "" {
		cfg.EnvFile = filepath.Join("dapr", "local.env")
	}
	apps, err := LoadRunFile(cfg.RunFile, cfg.Profile)
	if err != nil {
		return nil, err
	}
	fileEnv, err := readEnvFile(resolve(cfg.RootDir, cfg.EnvFile))
	if err != nil {
		return nil, err
	}
	for i := range apps {
		apps[i].EnvFromFile = fileEnv
	}
	s := &System{cfg: cfg, apps: apps, procs: map[string]*proc.Process{}, fatalCh: make(chan error, 1)}
	names := []string{"jaeger", "prometheus", "nats", "kafka", "redisstate", "consul", "sentry", "placement", "scheduler"}
	for _, a := range apps {
		names = append(names, a.AppID, a.AppID+".daprd")
	}
	s.out = proc.NewLines(cfg.Output, "launcher", names...)
	s.skipUnrunnable()

	specs, err := s.plan(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.requireTokens(); err != nil {
		return nil, err
	}
	sidecars := len(s.tiers) - 2
	if cfg.Infra {
		s.infraOnly(specs)
	}
	if err := proc.AwaitPorts(ctx, slices.Collect(maps.Values(specs)), portWait); err != nil {
		return nil, err
	}
	dataDir := s.DataDir()
	if cfg.Fresh {
		if err := clearDir(dataDir); err != nil {
			return nil, fmt.Errorf("clear data folder: %w", err)
		}
		if err := s.resetProfile(ctx); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	if s.mtls {
		// Sentry writes its credentials there but does not create it.
		if err := os.MkdirAll(s.sentryDir(), 0o700); err != nil {
			return nil, fmt.Errorf("create sentry's folder: %w", err)
		}
	}
	if err := s.buildApps(ctx); err != nil {
		return nil, err
	}

	if !cfg.Observe {
		addrs := []string{drainAddr}
		if s.zipkin() {
			addrs = append(addrs, zipkinAddr)
		}
		for _, addr := range addrs {
			if d := startTraceDrain(addr); d != nil {
				s.drains = append(s.drains, d)
				s.out.System("traces sent to %s are discarded (make run OBSERVE=1 keeps them and shows them in Jaeger)", addr)
			} else {
				s.out.System("traces go to the collector already listening on %s", addr)
			}
		}
	}

	readyCtx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout)
	defer cancel()
	for i, tier := range s.tiers {
		if i == sidecars {
			// Every topic needs its stream before a sidecar subscribes.
			if err := s.ensureStreams(readyCtx); err != nil {
				s.Stop()
				return nil, err
			}
		}
		for _, name := range tier {
			p := proc.New(specs[name], s.out, s.reportFatal)
			s.procs[name] = p
			p.Start()
		}
		// Sidecars and apps start together, since each waits for the other.
		if i == sidecars {
			continue
		}
		wait := tier
		if i == sidecars+1 {
			wait = append(slices.Clone(s.tiers[sidecars]), tier...)
		}
		if err := s.waitReady(readyCtx, wait); err != nil {
			s.Stop()
			return nil, err
		}
		if slices.Contains(tier, "sentry") {
			// Sentry has its root certificate now, on disk: the sidecars
			// take it from their environment.
			if err := s.trustSidecars(specs); err != nil {
				s.Stop()
				return nil, err
			}
		}
	}
	if cfg.Infra {
		if err := s.ensureStreams(readyCtx); err != nil {
			s.Stop()
			return nil, err
		}
		if err := s.writeCLIEnv(); err != nil {
			s.Stop()
			return nil, err
		}
		if err := s.writeCLIRunFile(); err != nil {
			s.Stop()
			return nil, err
		}
	}
	s.out.System("all healthy in %s (profile %s)", time.Since(began).Round(100*time.Millisecond), cfg.Profile)
	return s, nil
}

func (s *System) waitReady(ctx context.Context, names []string) error {
	errs := make(chan error, len(names))
	for _, n := range names {
		go func() { errs <- s.procs[n].WaitReady(ctx) }()
	}
	var all []error
	for range names {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	select {
	case err := <-s.fatalCh:
		all = append(all, err)
	default:
	}
	return errors.Join(all...)
}

func (s *System) reportFatal(err error) {
	s.out.System("%v", err)
	select {
	case s.fatalCh <- err:
	default:
	}
}

// Wait blocks until ctx is done (nil) or a process keeps dying (its error).
func (s *System) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.fatalCh:
		return err
	}
}

// Stop stops every process, the last started first, and returns when all
// have exited.
func (s *System) Stop() {
	s.once.Do(func() {
		s.out.System("stopping")
		for i := len(s.tiers) - 1; i >= 0; i-- {
			var wg sync.WaitGroup
			for _, n := range s.tiers[i] {
				// An app goes with its sidecar (stopApp); the sidecars'
				// tier then finds them stopped.
				wg.Go(func() { s.stopApp(n) })
			}
			wg.Wait()
		}
		for _, d := range s.drains {
			d.close()
		}
		s.out.System("stopped")
	})
}

// StopProcess stops one process (for example "notifications" or
// "notifications.daprd") and keeps it stopped until StartProcess.
func (s *System) StopProcess(name string) error {
	p, ok := s.procs[name]
	if !ok {
		return fmt.Errorf("no process %q", name)
	}
	p.Stop()
	return nil
}

// HaltProcess kills one process with SIGKILL and keeps it down until
// StartProcess: a crash that nothing restarts. (A sidecar stopped with
// StopProcess waits out its --dapr-block-shutdown-duration while its app
// stays up.)
func (s *System) HaltProcess(name string) error {
	p, ok := s.procs[name]
	if !ok {
		return fmt.Errorf("no process %q", name)
	}
	p.Halt()
	return nil
}

// StopApp stops an app and its sidecar as a pod's termination does, and
// keeps both stopped until StartProcess: both are signalled at once; the
// sidecar (started with --dapr-block-shutdown-duration) stops its
// subscriptions and serves the app's calls until the app is gone, while
// the app serves on for its SHUTDOWN_DELAY and then drains. It returns
// once both have exited.
func (s *System) StopApp(appID string) error {
	if _, ok := s.procs[appID]; !ok {
		return fmt.Errorf("no process %q", appID)
	}
	s.stopApp(appID)
	return nil
}

// stopApp stops the process name and, when it is an app, its sidecar
// with it.
func (s *System) stopApp(name string) {
	var wg sync.WaitGroup
	for _, n := range []string{name, name + ".daprd"} {
		if p, ok := s.procs[n]; ok {
			wg.Go(p.Stop)
		}
	}
	wg.Wait()
}

// StartProcess starts a stopped process again and waits until it is ready.
func (s *System) StartProcess(ctx context.Context, name string) error {
	p, ok := s.procs[name]
	if !ok {
		return fmt.Errorf("no process %q", name)
	}
	p.Start()
	return p.WaitReady(ctx)
}

// Kill sends SIGKILL to a process; supervision restarts it, as a container
// runtime would.
func (s *System) Kill(name string) error {
	p, ok := s.procs[name]
	if !ok {
		return fmt.Errorf("no process %q", name)
	}
	return p.Signal(syscall.SIGKILL)
}

// PID returns the process id of the named process, or 0.
func (s *System) PID(name string) int {
	if p, ok := s.procs[name]; ok {
		return p.PID()
	}
	return 0
}

// Processes names every process of the system, in start order.
func (s *System) Processes() []string { return slices.Concat(s.tiers...) }

// WaitReady waits until the named process is ready.
func (s *System) WaitReady(ctx context.Context, name string) error {
	p, ok := s.procs[name]
	if !ok {
		return fmt.Errorf("no process %q", name)
	}
	return p.WaitReady(ctx)
}

// App returns the merged run-file settings of an app.
func (s *System) App(id string) (App, bool) {
	for _, a := range s.apps {
		if a.AppID == id {
			return a, true
		}
	}
	return App{}, false
}

// Env returns the variables of the run file's envFile (the API tokens of
// the local profile), for clients that call sidecars directly.
func (s *System) Env() map[string]string {
	if len(s.apps) == 0 {
		return nil
	}
	return maps.Clone(s.apps[0].EnvFromFile)
}

// DataDir is the folder that holds the profile's data.
func (s *System) DataDir() string {
	return filepath.Join(s.cfg.RootDir, ".data", s.cfg.Profile)
}

// portWait is how long the launcher waits for taken ports to free up (see
// proc.AwaitPorts).
const portWait = 5 * time.Second
