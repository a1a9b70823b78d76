package launcher

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/daprshop/daprshop/internal/daprproc"
	"github.com/daprshop/daprshop/internal/proc"
)

// plan builds the spec of every process and the order to start them in.
func (s *System) plan(ctx context.Context) (map[string]proc.Spec, error) {
	specs := map[string]proc.Spec{}
	res, err := readResources(s.apps[0].ResourcesPaths)
	if err != nil {
		return nil, err
	}
	if s.mtls, err = mtlsMode(s.apps); err != nil {
		return nil, err
	}
	add := func(tier *[]string, spec proc.Spec) {
		specs[spec.Name] = spec
		*tier = append(*tier, spec.Name)
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
			add(&resolver, spec)
		}
	}

	if err := s.useTracing(); err != nil {
		return nil, err
	}

	var observers []string
	if s.cfg.Observe {
		obs, err := s.observeSpecs()
		if err != nil {
			return nil, err
		}
		for _, spec := range obs {
			add(&observers, spec)
		}
	}

	var servers []string
	if s.cfg.Profile == "local" {
		spec, err := s.natsSpec(res)
		if err != nil {
			return nil, err
		}
		add(&servers, spec)
	}
	if spec, ok, err := s.kafkaSpec(res); err != nil {
		return nil, err
	} else if ok {
		add(&servers, spec)
	}
	if spec, ok, err := s.redisStateSpec(res); err != nil {
		return nil, err
	} else if ok {
		add(&servers, spec)
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
		add(&sentry, s.sentrySpec(bin, config))
	}

	placement, scheduler, err := s.controlPlaneSpecs()
	if err != nil {
		return nil, err
	}
	specs[placement.Name], specs[scheduler.Name] = placement, scheduler

	daprd, err := s.findDaprBinary("daprd")
	if err != nil {
		return nil, err
	}
	if err := s.profilePorts(); err != nil {
		return nil, err
	}
	var sidecars, apps []string
	for _, a := range s.apps {
		d := s.daprdSpec(a, daprd)
		if s.pluggable {
			d.Env = mergeEnv(d.Env, map[string]string{socketsFolderEnv: s.socketsFolder()})
		}
		add(&sidecars, d)
		app, err := s.appSpec(a)
		if err != nil {
			return nil, err
		}
		add(&apps, app)
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

// controlPlaneSpecs runs placement and scheduler at the run file's
// addresses, with the fixed ports it has no field for.
func (s *System) controlPlaneSpecs() (proc.Spec, proc.Spec, error) {
	a := s.apps[0]
	pHost, pPort, err := hostPort(a.PlacementHostAddr, 50005)
	if err != nil {
		return proc.Spec{}, proc.Spec{}, fmt.Errorf("placementHostAddress: %w", err)
	}
	sHost, sPort, err := hostPort(a.SchedulerHostAddr, 50006)
	if err != nil {
		return proc.Spec{}, proc.Spec{}, fmt.Errorf("schedulerHostAddress: %w", err)
	}
	placementBin, err := s.findDaprBinary("placement")
	if err != nil {
		return proc.Spec{}, proc.Spec{}, err
	}
	schedulerBin, err := s.findDaprBinary("scheduler")
	if err != nil {
		return proc.Spec{}, proc.Spec{}, err
	}
	var tls *daprproc.TLS
	if s.mtls {
		tls = s.controlPlaneTLS()
	}
	placement := daprproc.Placement{
		Host: pHost, Port: pPort,
		HealthzPort: placementHealthzPort, MetricsPort: placementMetricsPort, RaftPort: placementRaftPort,
		TLS: tls,
	}
	scheduler := daprproc.Scheduler{
		Host: sHost, Port: sPort,
		HealthzPort: schedulerHealthzPort, MetricsPort: schedulerMetricsPort,
		EtcdClientPort: schedulerEtcdPort, EtcdPeerPort: schedulerEtcdPeer,
		EtcdDataDir: filepath.Join(s.DataDir(), "scheduler"),
		IdentityDir: filepath.Join(s.DataDir(), "scheduler-identity"),
		TLS:         tls,
	}
	env := os.Environ()
	return placement.Spec(placementBin, s.cfg.RootDir, env), scheduler.Spec(schedulerBin, s.cfg.RootDir, env), nil
}

// daprdSpec turns an app's run-file settings into daprd flags, as the Dapr
// CLI does. daprd inherits the envFile variables (the API tokens), as under
// the CLI, which loads the envFile into its own environment. With mTLS, the
// root certificate is added to its environment once sentry has made it
// (trustSidecars).
func (s *System) daprdSpec(a App, daprd string) proc.Spec {
	d := daprproc.Daprd{
		AppID:             a.AppID,
		HTTPPort:          a.HTTPPort,
		GRPCPort:          a.GRPCPort,
		InternalGRPCPort:  a.InternalGRPCPort,
		MetricsPort:       a.MetricsPort,
		ListenAddresses:   a.APIListenAddresses,
		AppPort:           a.AppPort,
		AppProtocol:       a.AppProtocol,
		AppChannelAddress: a.AppChannelAddress,
		Config:            a.ConfigFile,
		ResourcesPaths:    a.ResourcesPaths,
		Placement:         controlPlaneAddr(a.PlacementHostAddr, 50005),
		Scheduler:         controlPlaneAddr(a.SchedulerHostAddr, 50006),
		LogLevel:          a.LogLevel,
		EnableAPILogging:  a.EnableAPILogging,
		MaxBodySize:       a.MaxRequestBodySize,
		AppMaxConcurrency: a.AppMaxConcurrency,
		BlockShutdown:     sidecarBlockShutdown,
	}
	if a.EnableProfiling {
		d.ProfilePort = a.ProfilePort
	}
	if a.EnableAppHealth {
		d.AppHealth = &daprproc.AppHealth{
			Path: a.AppHealthPath, IntervalS: a.AppHealthInterval,
			TimeoutMS: a.AppHealthTimeout, Threshold: a.AppHealthThreshold,
		}
	}
	if s.mtls {
		d.SentryAddress = sentryAddr
	}
	spec := d.Spec(daprd, a.AppDirPath, mergeEnv(os.Environ(), a.EnvFromFile))
	spec.Ready = s.sidecarReady(a)
	return spec
}

// profilePorts gives every sidecar that is to serve pprof
// (enableProfiling in the run file, or Config.Profiling for all) its
// profilePort, or a free one when it names none, as the Dapr CLI does.
// App(id).ProfilePort then says where it is.
func (s *System) profilePorts() error {
	for i := range s.apps {
		a := &s.apps[i]
		a.EnableProfiling = a.EnableProfiling || s.cfg.Profiling
		if !a.EnableProfiling || a.ProfilePort > 0 {
			continue
		}
		p, err := proc.FreePorts(1)
		if err != nil {
			return fmt.Errorf("a profiling port for %s's sidecar: %w", a.AppID, err)
		}
		a.ProfilePort = p[0]
	}
	return nil
}

// sidecarBlockShutdown is how long a sidecar, once signalled, keeps serving
// its app while the app stops (the pods' dapr.io/block-shutdown-duration,
// deploy/k8s/base/app-defaults.yaml). With it daprd stops its
// subscriptions first: Stop and StopApp signal an app and its sidecar
// together, and the app serves on for its SHUTDOWN_DELAY (dapr/dapr.yaml),
// so every event already on its way is delivered to a live app and none is
// being retried against a closed port when daprd shuts down. The Dapr CLI
// has no field for it (a limit of `dapr run -f`, docs/dapr-notes.md).
const sidecarBlockShutdown = 10 * time.Second

// appSpec runs the app's command: a binary that the launcher builds from
// the app's folder (see builtHere), or any other command as written.
func (s *System) appSpec(a App) (proc.Spec, error) {
	if len(a.Command) == 0 {
		return proc.Spec{}, fmt.Errorf("app %q has no command", a.AppID)
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
	spec := proc.Spec{Name: a.AppID, Path: path, Args: args, Dir: a.AppDirPath, Env: env}
	if a.AppPort > 0 {
		spec.Ports = []proc.Port{{Port: a.AppPort, What: a.AppID + " app"}}
		healthPath := cmp(a.AppHealthPath, "/healthz")
		spec.Ready = proc.HTTP(fmt.Sprintf("http://127.0.0.1:%d%s", a.AppPort, healthPath))
	}
	return spec, nil
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
