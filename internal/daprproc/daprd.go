// Package daprproc writes, in one place each, how the Dapr runtime's
// processes are started outside Kubernetes: daprd's flags (as the Dapr CLI
// derives them from a run file), placement's, scheduler's and sentry's, and
// nats-server's for the local profile's broker. The launcher, the test
// helpers (internal/daprdtest) and the benchmark take their proc.Specs from
// here, so a flag changes in one file.
package daprproc

import (
	"fmt"
	"strconv"
	"time"

	"github.com/daprshop/daprshop/internal/proc"
)

// Daprd is what a sidecar is started with. Zero values leave daprd's
// defaults, but for the control plane's addresses: empty means none.
type Daprd struct {
	AppID                                             string
	HTTPPort, GRPCPort, InternalGRPCPort, MetricsPort int
	// ListenAddresses is --dapr-listen-addresses (empty: daprd's default,
	// every interface).
	ListenAddresses   string
	AppPort           int
	AppProtocol       string // http when empty
	AppChannelAddress string
	Config            string
	ResourcesPaths    []string
	// Placement and Scheduler are host:port; empty starts daprd without
	// that service (no actors or workflows; no jobs or reminders).
	Placement, Scheduler string
	LogLevel             string // info when empty
	AppHealth            *AppHealth
	EnableAPILogging     bool
	MaxBodySize          string
	AppMaxConcurrency    int
	// BlockShutdown is --dapr-block-shutdown-duration (0: none): on SIGTERM
	// daprd stops its subscriptions at once and keeps serving its app's
	// calls until the app reports unhealthy or this long has passed, as
	// dapr.io/block-shutdown-duration makes it do in a pod.
	BlockShutdown time.Duration
	// SentryAddress, when set, turns mTLS on, as the Dapr CLI does for a
	// Configuration that enables it; the root certificate then comes by
	// the DAPR_TRUST_ANCHORS environment variable.
	SentryAddress string
	// ProfilePort, when set, serves Go's pprof endpoints on it
	// (--enable-profiling, --profile-port): the run file's enableProfiling
	// and profilePort, dapr.io/enable-profiling in a pod.
	ProfilePort int
}

// AppHealth is daprd's health check of its app.
type AppHealth struct {
	Path                            string
	IntervalS, TimeoutMS, Threshold int
}

// Args are daprd's flags, in a stable order.
func (d Daprd) Args() []string {
	args := []string{
		"--app-id=" + d.AppID,
		"--dapr-http-port=" + strconv.Itoa(d.HTTPPort),
		"--dapr-grpc-port=" + strconv.Itoa(d.GRPCPort),
		"--dapr-internal-grpc-port=" + strconv.Itoa(d.InternalGRPCPort),
		"--dapr-internal-grpc-listen-address=127.0.0.1",
		"--metrics-port=" + strconv.Itoa(d.MetricsPort),
		"--metrics-listen-address=127.0.0.1",
		"--app-protocol=" + or(d.AppProtocol, "http"),
		"--placement-host-address=" + d.Placement,
		"--scheduler-host-address=" + d.Scheduler,
		"--log-level=" + or(d.LogLevel, "info"),
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
	optInt("app-port", d.AppPort)
	opt("config", d.Config)
	for _, r := range d.ResourcesPaths {
		opt("resources-path", r)
	}
	if h := d.AppHealth; h != nil {
		args = append(args, "--enable-app-health-check")
		opt("app-health-check-path", h.Path)
		optInt("app-health-probe-interval", h.IntervalS)
		optInt("app-health-probe-timeout", h.TimeoutMS)
		optInt("app-health-threshold", h.Threshold)
	}
	if d.EnableAPILogging {
		args = append(args, "--enable-api-logging")
	}
	opt("max-body-size", d.MaxBodySize)
	opt("app-channel-address", d.AppChannelAddress)
	opt("dapr-listen-addresses", d.ListenAddresses)
	optInt("app-max-concurrency", d.AppMaxConcurrency)
	if d.BlockShutdown > 0 {
		opt("dapr-block-shutdown-duration", d.BlockShutdown.String())
	}
	if d.SentryAddress != "" {
		args = append(args, "--enable-mtls", "--sentry-address="+d.SentryAddress)
	}
	if d.ProfilePort > 0 {
		args = append(args, "--enable-profiling", "--profile-port="+strconv.Itoa(d.ProfilePort))
	}
	return args
}

// Spec runs bin (daprd) with Args in dir and env; it is ready once
// /v1.0/healthz answers.
func (d Daprd) Spec(bin, dir string, env []string) proc.Spec {
	what := d.AppID + " daprd "
	ports := []proc.Port{
		{Port: d.HTTPPort, What: what + "HTTP"}, {Port: d.GRPCPort, What: what + "gRPC"},
		{Port: d.InternalGRPCPort, What: what + "internal gRPC"}, {Port: d.MetricsPort, What: what + "metrics"},
	}
	if d.ProfilePort > 0 {
		ports = append(ports, proc.Port{Port: d.ProfilePort, What: what + "profiling"})
	}
	return proc.Spec{
		Name:  d.AppID + ".daprd",
		Path:  bin,
		Args:  d.Args(),
		Dir:   dir,
		Env:   env,
		Ports: ports,
		Ready: proc.HTTP(d.HealthzURL()),
	}
}

// HTTPBase is the address of its HTTP API.
func (d Daprd) HTTPBase() string { return fmt.Sprintf("http://127.0.0.1:%d", d.HTTPPort) }

// HealthzURL is its health endpoint.
func (d Daprd) HealthzURL() string { return d.HTTPBase() + "/v1.0/healthz" }

// WithFreePorts returns d with its four ports taken from the kernel.
func (d Daprd) WithFreePorts() (Daprd, error) {
	ports, err := proc.FreePorts(4)
	if err != nil {
		return d, err
	}
	d.HTTPPort, d.GRPCPort, d.InternalGRPCPort, d.MetricsPort = ports[0], ports[1], ports[2], ports[3]
	return d, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
