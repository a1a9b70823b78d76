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
	// Infra starts only what the Dapr CLI leaves to its user (the profile's
	// servers and streams, Consul, sentry, placement, scheduler), builds the
	// apps' binaries the run file names, and writes the CLI's environment
	// (CLIEnvFile): `make infra`, then `dapr run -f dapr/dapr.yaml`.
	Infra bool
	// ReadyTimeout bounds the wait for every process to be healthy.
	ReadyTimeout time.Duration
}

// namedPort is a port and what it is for, for the message when it is taken.
type namedPort struct {
	port int
	what string
}

// System is a running local system.
type System struct {
	cfg  Config
	out  *lineWriter
	apps []App
	mtls bool // every app's Configuration enables mTLS: sentry runs
	// pluggable: the profile has a pluggable component (redisStateSpec),
	// whose sockets folder every daprd is given.
	pluggable bool
	procs     map[string]*process
	tiers     [][]string // start order; stopped in reverse
	fatalCh   chan error
	once      sync.Once
	drain     *traceDrain // spans thrown away when not observing
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
	s := &System{cfg: cfg, apps: apps, procs: map[string]*process{}, fatalCh: make(chan error, 1)}
	names := []string{"launcher", "jaeger", "prometheus", "nats", "kafka", "redisstate", "consul", "sentry", "placement", "scheduler"}
	for _, a := range apps {
		names = append(names, a.AppID, a.AppID+".daprd")
	}
	s.out = newLineWriter(cfg.Output, names)

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
	if err := awaitPorts(ctx, specs, portWait); err != nil {
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
		if s.drain = startTraceDrain(drainAddr); s.drain != nil {
			s.out.system("traces are discarded (make run OBSERVE=1 keeps them and shows them in Jaeger)")
		} else {
			s.out.system("traces go to the collector already listening on %s", drainAddr)
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
			p := newProcess(specs[name], s.out, s.reportFatal)
			s.procs[name] = p
			p.start()
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
	s.out.system("all healthy in %s (profile %s)", time.Since(began).Round(100*time.Millisecond), cfg.Profile)
	return s, nil
}

func (s *System) waitReady(ctx context.Context, names []string) error {
	errs := make(chan error, len(names))
	for _, n := range names {
		go func() { errs <- s.procs[n].waitReady(ctx) }()
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
	s.out.system("%v", err)
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
		s.out.system("stopping")
		for i := len(s.tiers) - 1; i >= 0; i-- {
			var wg sync.WaitGroup
			for _, n := range s.tiers[i] {
				if p, ok := s.procs[n]; ok {
					wg.Go(p.stop)
				}
			}
			wg.Wait()
		}
		s.drain.close()
		s.out.system("stopped")
	})
}

// StopProcess stops one process (for example "notifications" or
// "notifications.daprd") and keeps it stopped until StartProcess.
func (s *System) StopProcess(name string) error {
	p, ok := s.procs[name]
	if !ok {
		return fmt.Errorf("no process %q", name)
	}
	p.stop()
	return nil
}

// StartProcess starts a stopped process again and waits until it is ready.
func (s *System) StartProcess(ctx context.Context, name string) error {
	p, ok := s.procs[name]
	if !ok {
		return fmt.Errorf("no process %q", name)
	}
	p.start()
	return p.waitReady(ctx)
}

// Kill sends SIGKILL to a process; supervision restarts it, as a container
// runtime would.
func (s *System) Kill(name string) error {
	p, ok := s.procs[name]
	if !ok {
		return fmt.Errorf("no process %q", name)
	}
	return p.signal(syscall.SIGKILL)
}

// PID returns the process id of the named process, or 0.
func (s *System) PID(name string) int {
	if p, ok := s.procs[name]; ok {
		return p.pid()
	}
	return 0
}

// WaitReady waits until the named process is ready.
func (s *System) WaitReady(ctx context.Context, name string) error {
	p, ok := s.procs[name]
	if !ok {
		return fmt.Errorf("no process %q", name)
	}
	return p.waitReady(ctx)
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

// plan builds the spec of every process and the order to start them in.
func (s *System) plan(ctx context.Context) (map[string]procSpec, error) {
	specs := map[string]procSpec{}
	res, err := readResources(s.apps[0].ResourcesPaths)
	if err != nil {
		return nil, err
	}
	if s.mtls, err = mtlsMode(s.apps); err != nil {
		return nil, err
	}
	var resolver []string
	if nr := s.cfg.NameResolution; nr != "" && nr != "sqlite" {
		if err := s.useNameResolution(nr); err != nil {
			return nil, err
		}
		if nr == "consul" {
			spec, err := s.consulSpec()
			if err != nil {
				return nil, err
			}
			specs[spec.name] = spec
			resolver = append(resolver, spec.name)
		}
	}

	var observers []string
	if s.cfg.Observe {
		obs, err := s.observeSpecs()
		if err != nil {
			return nil, err
		}
		for _, spec := range obs {
			specs[spec.name] = spec
			observers = append(observers, spec.name)
		}
	}

	var servers []string
	if s.cfg.Profile == "local" {
		spec, err := s.natsSpec(res)
		if err != nil {
			return nil, err
		}
		specs[spec.name] = spec
		servers = append(servers, spec.name)
	}
	if spec, ok, err := s.kafkaSpec(res); err != nil {
		return nil, err
	} else if ok {
		specs[spec.name] = spec
		servers = append(servers, spec.name)
	}
	if spec, ok, err := s.redisStateSpec(res); err != nil {
		return nil, err
	} else if ok {
		specs[spec.name] = spec
		servers = append(servers, spec.name)
		s.pluggable = true
	}

	var sentry []string
	if s.mtls {
		bin, err := s.findDaprBinary("sentry")
		if err != nil {
			return nil, err
		}
		// Sentry reads spec.mtls from the common Configuration; without one,
		// from an app's, which enables mTLS too.
		config := cmp(s.apps[0].CommonConfigFile, s.apps[0].ConfigFile)
		spec := s.sentrySpec(bin, config)
		specs[spec.name] = spec
		sentry = append(sentry, spec.name)
	}

	placement, scheduler, err := s.controlPlaneSpecs()
	if err != nil {
		return nil, err
	}
	specs[placement.name], specs[scheduler.name] = placement, scheduler

	daprd, err := s.findDaprBinary("daprd")
	if err != nil {
		return nil, err
	}
	var sidecars, apps []string
	for _, a := range s.apps {
		d := s.daprdSpec(a, daprd)
		if s.pluggable {
			d.env = mergeEnv(d.env, map[string]string{socketsFolderEnv: s.socketsFolder()})
		}
		specs[d.name] = d
		sidecars = append(sidecars, d.name)
		app, err := s.appSpec(a)
		if err != nil {
			return nil, err
		}
		specs[app.name] = app
		apps = append(apps, app.name)
	}
	if len(observers) > 0 {
		s.tiers = append(s.tiers, observers)
	}
	servers = append(servers, resolver...)
	if len(servers) > 0 {
		s.tiers = append(s.tiers, servers)
	}
	if len(sentry) > 0 {
		s.tiers = append(s.tiers, sentry)
	}
	s.tiers = append(s.tiers, []string{"placement", "scheduler"}, sidecars, apps)
	return specs, nil
}

func (s *System) controlPlaneSpecs() (procSpec, procSpec, error) {
	a := s.apps[0]
	pHost, pPort, err := hostPort(a.PlacementHostAddr, 50005)
	if err != nil {
		return procSpec{}, procSpec{}, fmt.Errorf("placementHostAddress: %w", err)
	}
	sHost, sPort, err := hostPort(a.SchedulerHostAddr, 50006)
	if err != nil {
		return procSpec{}, procSpec{}, fmt.Errorf("schedulerHostAddress: %w", err)
	}
	placementBin, err := s.findDaprBinary("placement")
	if err != nil {
		return procSpec{}, procSpec{}, err
	}
	schedulerBin, err := s.findDaprBinary("scheduler")
	if err != nil {
		return procSpec{}, procSpec{}, err
	}
	logLevel := "info"
	placement := procSpec{
		name: "placement",
		path: placementBin,
		args: []string{
			"--log-level=" + logLevel,
			"--port=" + strconv.Itoa(pPort),
			"--listen-address=" + pHost,
			"--healthz-port=" + strconv.Itoa(placementHealthzPort),
			"--healthz-listen-address=127.0.0.1",
			"--metrics-port=" + strconv.Itoa(placementMetricsPort),
			"--metrics-listen-address=127.0.0.1",
			"--initial-cluster=dapr-placement-0=127.0.0.1:" + strconv.Itoa(placementRaftPort),
		},
		dir: s.cfg.RootDir,
		env: os.Environ(),
		ports: []namedPort{
			{pPort, "placement gRPC"}, {placementHealthzPort, "placement healthz"},
			{placementMetricsPort, "placement metrics"}, {placementRaftPort, "placement raft"},
		},
		ready: httpProbe(fmt.Sprintf("http://127.0.0.1:%d/healthz", placementHealthzPort)),
	}
	if s.mtls {
		placement.args = append(placement.args, s.controlPlaneMTLSArgs()...)
	}
	etcdDir := filepath.Join(s.DataDir(), "scheduler")
	scheduler := procSpec{
		name: "scheduler",
		path: schedulerBin,
		args: []string{
			"--log-level=" + logLevel,
			"--id=dapr-scheduler-server-0",
			"--port=" + strconv.Itoa(sPort),
			"--listen-address=" + sHost,
			"--override-broadcast-host-port=" + net.JoinHostPort(sHost, strconv.Itoa(sPort)),
			"--healthz-port=" + strconv.Itoa(schedulerHealthzPort),
			"--healthz-listen-address=127.0.0.1",
			"--metrics-port=" + strconv.Itoa(schedulerMetricsPort),
			"--metrics-listen-address=127.0.0.1",
			"--etcd-data-dir=" + etcdDir,
			"--etcd-client-port=" + strconv.Itoa(schedulerEtcdPort),
			"--etcd-client-listen-address=127.0.0.1",
			"--etcd-initial-cluster=dapr-scheduler-server-0=http://127.0.0.1:" + strconv.Itoa(schedulerEtcdPeer),
			"--identity-directory-write=" + filepath.Join(s.DataDir(), "scheduler-identity"),
		},
		dir: s.cfg.RootDir,
		env: os.Environ(),
		ports: []namedPort{
			{sPort, "scheduler gRPC"}, {schedulerHealthzPort, "scheduler healthz"},
			{schedulerMetricsPort, "scheduler metrics"}, {schedulerEtcdPort, "scheduler etcd client"},
			{schedulerEtcdPeer, "scheduler etcd peer"},
		},
		ready: httpProbe(fmt.Sprintf("http://127.0.0.1:%d/healthz", schedulerHealthzPort)),
	}
	if s.mtls {
		scheduler.args = append(scheduler.args, s.controlPlaneMTLSArgs()...)
	}
	return placement, scheduler, nil
}

// daprdSpec turns an app's run-file settings into daprd flags, as the Dapr
// CLI does. daprd inherits the envFile variables (the API tokens), as under
// the CLI, which loads the envFile into its own environment. With mTLS, the
// root certificate is added to its environment once sentry has made it
// (trustSidecars).
func (s *System) daprdSpec(a App, daprd string) procSpec {
	args := []string{
		"--app-id=" + a.AppID,
		"--dapr-http-port=" + strconv.Itoa(a.HTTPPort),
		"--dapr-grpc-port=" + strconv.Itoa(a.GRPCPort),
		"--dapr-internal-grpc-port=" + strconv.Itoa(a.InternalGRPCPort),
		"--dapr-internal-grpc-listen-address=127.0.0.1",
		"--metrics-port=" + strconv.Itoa(a.MetricsPort),
		"--metrics-listen-address=127.0.0.1",
		"--app-protocol=" + cmp(a.AppProtocol, "http"),
		"--placement-host-address=" + controlPlaneAddr(a.PlacementHostAddr, 50005),
		"--scheduler-host-address=" + controlPlaneAddr(a.SchedulerHostAddr, 50006),
		"--log-level=" + cmp(a.LogLevel, "info"),
	}
	opt := func(flag, v string) {
		if v != "" {
			args = append(args, "--"+flag+"="+v)
		}
	}
	optInt := func(flag string, v int) {
		if v > 0 {
			opt(flag, strconv.Itoa(v))
		}
	}
	optInt("app-port", a.AppPort)
	opt("config", a.ConfigFile)
	for _, r := range a.ResourcesPaths {
		opt("resources-path", r)
	}
	if a.EnableAppHealth {
		args = append(args, "--enable-app-health-check")
		opt("app-health-check-path", a.AppHealthPath)
		optInt("app-health-probe-interval", a.AppHealthInterval)
		optInt("app-health-probe-timeout", a.AppHealthTimeout)
		optInt("app-health-threshold", a.AppHealthThreshold)
	}
	if a.EnableAPILogging {
		args = append(args, "--enable-api-logging")
	}
	opt("max-body-size", a.MaxRequestBodySize)
	opt("app-channel-address", a.AppChannelAddress)
	opt("dapr-listen-addresses", a.APIListenAddresses)
	optInt("app-max-concurrency", a.AppMaxConcurrency)
	if s.mtls {
		args = append(args, daprdMTLSArgs()...)
	}

	return procSpec{
		name: a.AppID + ".daprd",
		path: daprd,
		args: args,
		dir:  a.AppDirPath,
		env:  mergeEnv(os.Environ(), a.EnvFromFile),
		ports: []namedPort{
			{a.HTTPPort, a.AppID + " daprd HTTP"}, {a.GRPCPort, a.AppID + " daprd gRPC"},
			{a.InternalGRPCPort, a.AppID + " daprd internal gRPC"}, {a.MetricsPort, a.AppID + " daprd metrics"},
		},
		ready: s.sidecarReady(a),
	}
}

// appSpec runs the app's command: a binary that the launcher builds from
// the app's folder (see builtHere), or any other command as written.
func (s *System) appSpec(a App) (procSpec, error) {
	if len(a.Command) == 0 {
		return procSpec{}, fmt.Errorf("app %q has no command", a.AppID)
	}
	path, args := a.Command[0], a.Command[1:]
	if s.builtHere(a) {
		path = s.appBinary(a.AppID)
	} else if lp, err := exec.LookPath(path); err == nil {
		path = lp
	}
	env := mergeEnv(os.Environ(), a.EnvFromFile)
	env = mergeEnv(env, map[string]string{
		"APP_ID":            a.AppID,
		"APP_PORT":          strconv.Itoa(a.AppPort),
		"APP_PROTOCOL":      cmp(a.AppProtocol, "http"),
		"DAPR_HTTP_PORT":    strconv.Itoa(a.HTTPPort),
		"DAPR_GRPC_PORT":    strconv.Itoa(a.GRPCPort),
		"DAPR_METRICS_PORT": strconv.Itoa(a.MetricsPort),
	})
	env = mergeEnv(env, a.Env)
	spec := procSpec{name: a.AppID, path: path, args: args, dir: a.AppDirPath, env: env}
	if a.AppPort > 0 {
		spec.ports = []namedPort{{a.AppPort, a.AppID + " app"}}
		healthPath := cmp(a.AppHealthPath, "/healthz")
		spec.ready = httpProbe(fmt.Sprintf("http://127.0.0.1:%d%s", a.AppPort, healthPath))
	}
	return spec, nil
}

func (s *System) appBinary(appID string) string {
	return filepath.Join(s.cfg.BinDir, "apps", appID)
}

// builtHere reports whether the app's command is its binary in
// BinDir/apps/<appID> (../../.bin/apps/<appID> in dapr/dapr.yaml), which
// the launcher builds from the app's folder before it starts anything. The
// run file names the binary rather than `go run .` so that the Dapr CLI,
// which stops an app by signalling it, stops the app itself and not a go
// tool whose child keeps the port (`make apps` builds it for the CLI).
func (s *System) builtHere(a App) bool {
	return len(a.Command) == 1 && resolve(a.AppDirPath, a.Command[0]) == s.appBinary(a.AppID)
}

// buildApps builds every app whose binary the launcher builds, in parallel.
func (s *System) buildApps(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, a := range s.apps {
		if !s.builtHere(a) {
			continue
		}
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, "go", "build", "-o", s.appBinary(a.AppID), ".")
			cmd.Dir = a.AppDirPath
			if out, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("build %s: %w\n%s", a.AppID, err, out))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// findDaprBinary finds a Dapr binary: the pinned build in BinDir (make
// tools), else an official install in ~/.dapr/bin of the same version.
func (s *System) findDaprBinary(name string) (string, error) {
	pinned := filepath.Join(s.cfg.BinDir, name)
	if _, err := os.Stat(pinned); err == nil {
		return pinned, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		installed := filepath.Join(home, ".dapr", "bin", name)
		if _, err := os.Stat(installed); err == nil {
			out, err := exec.Command(installed, "--version").Output()
			if err == nil && strings.TrimSpace(string(out)) == DaprVersion {
				return installed, nil
			}
			return "", fmt.Errorf("%s in ~/.dapr/bin is not version %s (it says %q); run `make tools` to build the pinned one", name, DaprVersion, strings.TrimSpace(string(out)))
		}
	}
	return "", fmt.Errorf("%s not found in %s or ~/.dapr/bin: run `make tools` first", name, s.cfg.BinDir)
}

// portWait is how long the launcher waits for taken ports to free up. Most
// fixed ports here lie in Linux's ephemeral range (32768-60999), so an
// outgoing connection of any process may hold one for a moment; a server
// that holds one is still reported, after the wait.
const portWait = 5 * time.Second

// awaitPorts runs checkPorts until it passes or wait is over.
func awaitPorts(ctx context.Context, specs map[string]procSpec, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		err := checkPorts(specs)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}

// checkPorts fails with every taken port named, before anything starts.
func checkPorts(specs map[string]procSpec) error {
	var taken []string
	seen := map[int]string{}
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, p := range specs[n].ports {
			if other, dup := seen[p.port]; dup {
				taken = append(taken, fmt.Sprintf("port %d is set twice: %s and %s", p.port, other, p.what))
				continue
			}
			seen[p.port] = p.what
			l, err := net.Listen("tcp", ":"+strconv.Itoa(p.port))
			if err != nil {
				taken = append(taken, fmt.Sprintf("port %d (%s) is taken by another process", p.port, p.what))
				continue
			}
			l.Close()
		}
	}
	if len(taken) > 0 {
		return fmt.Errorf("cannot start: %s\nstop what holds it (`ss -ltnp | grep :PORT` shows it), or change the port in dapr/dapr.yaml", strings.Join(taken, "; "))
	}
	return nil
}

// clearDir deletes what dir holds but its .gitkeep, which keeps the folder
// in a fresh clone for users of the Dapr CLI (SQLite does not create it).
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == ".gitkeep" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func httpProbe(url string) func(context.Context) error {
	client := &http.Client{Timeout: time.Second}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s: status %d", url, resp.StatusCode)
		}
		return nil
	}
}

// tcpProbe is ready once addr accepts a connection.
func tcpProbe(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// controlPlaneAddr is the address daprd is given for placement or
// scheduler: the same defaults controlPlaneSpecs starts them with.
func controlPlaneAddr(addr string, defPort int) string {
	h, p, err := hostPort(addr, defPort)
	if err != nil {
		return addr // LoadRunFile's callers have already rejected it
	}
	return net.JoinHostPort(h, strconv.Itoa(p))
}

func hostPort(addr string, defPort int) (string, int, error) {
	if addr == "" {
		return "127.0.0.1", defPort, nil
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, defPort, nil //nolint:nilerr // a bare host takes the default port, as in the CLI
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	if h == "localhost" || h == "" {
		h = "127.0.0.1"
	}
	return h, port, nil
}

func mergeEnv(base []string, add map[string]string) []string {
	out := slices.Clone(base)
	for k, v := range add {
		out = append(out, k+"="+v)
	}
	return out
}

func cmp(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// lineWriter writes each process's lines with its name in front.
type lineWriter struct {
	mu    sync.Mutex
	w     io.Writer
	width int
}

func newLineWriter(w io.Writer, names []string) *lineWriter {
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	return &lineWriter{w: w, width: width}
}

func (l *lineWriter) line(name, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%-*s | %s\n", l.width, name, text)
}

func (l *lineWriter) system(format string, args ...any) {
	l.line("launcher", fmt.Sprintf(format, args...))
}
