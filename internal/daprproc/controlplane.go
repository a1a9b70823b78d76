package daprproc

import (
	"fmt"
	"net"
	"strconv"

	"github.com/daprshop/daprshop/internal/proc"
)

// TLS makes placement or scheduler take its identity from sentry and serve
// mTLS. They read the root certificate from TrustAnchorsFile, so they start
// once sentry has written it.
type TLS struct {
	TrustDomain      string
	TrustAnchorsFile string
	SentryAddress    string
}

func (t *TLS) args() []string {
	if t == nil {
		return nil
	}
	return []string{
		"--tls-enabled",
		"--trust-domain=" + t.TrustDomain,
		"--trust-anchors-file=" + t.TrustAnchorsFile,
		"--sentry-address=" + t.SentryAddress,
	}
}

// Placement is the actor placement service, one member of its own raft.
type Placement struct {
	Host                                     string // listen address (127.0.0.1 when empty)
	Port, HealthzPort, MetricsPort, RaftPort int
	LogLevel                                 string
	TLS                                      *TLS
}

// Spec runs bin (placement) in dir; ready once its /healthz answers.
func (p Placement) Spec(bin, dir string, env []string) proc.Spec {
	host := or(p.Host, "127.0.0.1")
	return proc.Spec{
		Name: "placement",
		Path: bin,
		Args: append([]string{
			"--log-level=" + or(p.LogLevel, "info"),
			"--port=" + strconv.Itoa(p.Port),
			"--listen-address=" + host,
			"--healthz-port=" + strconv.Itoa(p.HealthzPort),
			"--healthz-listen-address=127.0.0.1",
			"--metrics-port=" + strconv.Itoa(p.MetricsPort),
			"--metrics-listen-address=127.0.0.1",
			"--initial-cluster=dapr-placement-0=127.0.0.1:" + strconv.Itoa(p.RaftPort),
		}, p.TLS.args()...),
		Dir: dir,
		Env: env,
		Ports: []proc.Port{
			{Port: p.Port, What: "placement gRPC"}, {Port: p.HealthzPort, What: "placement healthz"},
			{Port: p.MetricsPort, What: "placement metrics"}, {Port: p.RaftPort, What: "placement raft"},
		},
		Ready: proc.HTTP(fmt.Sprintf("http://127.0.0.1:%d/healthz", p.HealthzPort)),
	}
}

// Addr is where daprd reaches it.
func (p Placement) Addr() string {
	return net.JoinHostPort(or(p.Host, "127.0.0.1"), strconv.Itoa(p.Port))
}

// Scheduler is the jobs and reminders service with its embedded etcd.
type Scheduler struct {
	Host                           string // listen address (127.0.0.1 when empty)
	Port, HealthzPort, MetricsPort int
	EtcdClientPort, EtcdPeerPort   int
	EtcdDataDir, IdentityDir       string
	LogLevel                       string
	TLS                            *TLS
}

// Spec runs bin (scheduler) in dir; ready once its /healthz answers.
func (s Scheduler) Spec(bin, dir string, env []string) proc.Spec {
	return proc.Spec{
		Name: "scheduler",
		Path: bin,
		Args: append([]string{
			"--log-level=" + or(s.LogLevel, "info"),
			"--id=dapr-scheduler-server-0",
			"--port=" + strconv.Itoa(s.Port),
			"--listen-address=" + or(s.Host, "127.0.0.1"),
			"--override-broadcast-host-port=" + s.Addr(),
			"--healthz-port=" + strconv.Itoa(s.HealthzPort),
			"--healthz-listen-address=127.0.0.1",
			"--metrics-port=" + strconv.Itoa(s.MetricsPort),
			"--metrics-listen-address=127.0.0.1",
			"--etcd-data-dir=" + s.EtcdDataDir,
			"--etcd-client-port=" + strconv.Itoa(s.EtcdClientPort),
			"--etcd-client-listen-address=127.0.0.1",
			"--etcd-initial-cluster=dapr-scheduler-server-0=http://127.0.0.1:" + strconv.Itoa(s.EtcdPeerPort),
			"--identity-directory-write=" + s.IdentityDir,
		}, s.TLS.args()...),
		Dir: dir,
		Env: env,
		Ports: []proc.Port{
			{Port: s.Port, What: "scheduler gRPC"}, {Port: s.HealthzPort, What: "scheduler healthz"},
			{Port: s.MetricsPort, What: "scheduler metrics"}, {Port: s.EtcdClientPort, What: "scheduler etcd client"},
			{Port: s.EtcdPeerPort, What: "scheduler etcd peer"},
		},
		Ready: proc.HTTP(fmt.Sprintf("http://127.0.0.1:%d/healthz", s.HealthzPort)),
	}
}

// Addr is where daprd reaches it.
func (s Scheduler) Addr() string {
	return net.JoinHostPort(or(s.Host, "127.0.0.1"), strconv.Itoa(s.Port))
}

// Sentry is the certificate authority, standalone: it signs any app id
// asked for, so its port stays on loopback.
type Sentry struct {
	Port, HealthzPort, MetricsPort int
	// Config is the Configuration whose spec.mtls it reads (it exits
	// without one); IssuerDir holds its root and issuer, made there when
	// missing.
	Config, IssuerDir, TrustDomain string
	LogLevel                       string
}

// Spec runs bin (sentry) in dir; ready once its /healthz answers.
func (s Sentry) Spec(bin, dir string, env []string) proc.Spec {
	return proc.Spec{
		Name: "sentry",
		Path: bin,
		Args: []string{
			"--log-level=" + or(s.LogLevel, "info"),
			"--mode=standalone",
			"--config=" + s.Config,
			"--issuer-credentials=" + s.IssuerDir,
			"--trust-domain=" + s.TrustDomain,
			"--port=" + strconv.Itoa(s.Port),
			"--listen-address=127.0.0.1",
			"--healthz-port=" + strconv.Itoa(s.HealthzPort),
			"--healthz-listen-address=127.0.0.1",
			"--metrics-port=" + strconv.Itoa(s.MetricsPort),
			"--metrics-listen-address=127.0.0.1",
		},
		Dir: dir,
		Env: env,
		Ports: []proc.Port{
			{Port: s.Port, What: "sentry gRPC"}, {Port: s.HealthzPort, What: "sentry healthz"},
			{Port: s.MetricsPort, What: "sentry metrics"},
		},
		Ready: proc.HTTP(fmt.Sprintf("http://127.0.0.1:%d/healthz", s.HealthzPort)),
	}
}

// NATS is nats-server with JetStream on loopback, the local profile's
// broker.
type NATS struct {
	Port, MonitorPort int
	StoreDir          string
	ServerName        string // none when empty
}

// Spec runs bin (nats-server) in dir; ready once JetStream is up.
func (n NATS) Spec(bin, dir string, env []string) proc.Spec {
	args := []string{
		"--addr", "127.0.0.1", "--port", strconv.Itoa(n.Port),
		"--http_port", strconv.Itoa(n.MonitorPort),
		"--jetstream", "--store_dir", n.StoreDir,
	}
	if n.ServerName != "" {
		args = append(args, "--server_name", n.ServerName)
	}
	return proc.Spec{
		Name:  "nats",
		Path:  bin,
		Args:  args,
		Dir:   dir,
		Env:   env,
		Ports: []proc.Port{{Port: n.Port, What: "NATS client"}, {Port: n.MonitorPort, What: "NATS monitoring"}},
		Ready: proc.HTTP(fmt.Sprintf("http://127.0.0.1:%d/healthz?js-enabled-only=true", n.MonitorPort)),
	}
}

// URL is the client address.
func (n NATS) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.Port) }
