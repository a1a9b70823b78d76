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
	// Kubernetes runs it in Kubernetes mode: it asks sentry for its
	// identity with the service account token in DAPR_SENTRY_TOKEN_FILE.
	Kubernetes bool
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
			"--mode=" + mode(p.Kubernetes),
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

func mode(kubernetes bool) string {
	if kubernetes {
		return "kubernetes"
	}
	return "standalone"
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
	// Kubeconfig, when set, runs it in Kubernetes mode with that
	// kubeconfig: its identity from sentry by the service account token in
	// DAPR_SENTRY_TOKEN_FILE, and it deletes a namespace's jobs when the
	// namespace goes.
	Kubeconfig string
}

// Spec runs bin (scheduler) in dir; ready once its /healthz answers.
func (s Scheduler) Spec(bin, dir string, env []string) proc.Spec {
	args := []string{"--mode=" + mode(s.Kubeconfig != "")}
	if s.Kubeconfig != "" {
		args = append(args, "--kubeconfig="+s.Kubeconfig)
	}
	return proc.Spec{
		Name: "scheduler",
		Path: bin,
		Args: append(append([]string{
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
		}, args...), s.TLS.args()...),
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

// Sentry is the certificate authority. Standalone (the default), it signs
// any app id asked for, so its port stays on loopback. In Kubernetes mode
// it checks each caller's service account token with the API server (at
// Kubeconfig) and keeps its root in the Secret and ConfigMap
// dapr-trust-bundle of the namespace in the NAMESPACE variable.
type Sentry struct {
	Port, HealthzPort, MetricsPort int
	// Config is the Configuration whose spec.mtls it reads (it exits
	// without one): a file standalone, the name of a Configuration object
	// in Kubernetes mode. IssuerDir holds its root and issuer, made there
	// when missing (standalone); in Kubernetes mode it must exist.
	Config, IssuerDir, TrustDomain string
	LogLevel                       string
	Mode                           string // standalone when empty, or kubernetes
	Kubeconfig                     string // Kubernetes mode
	Host                           string // listen address (127.0.0.1 when empty)
}

// Spec runs bin (sentry) in dir; ready once its /healthz answers.
func (s Sentry) Spec(bin, dir string, env []string) proc.Spec {
	args := []string{
		"--log-level=" + or(s.LogLevel, "info"),
		"--mode=" + or(s.Mode, "standalone"),
		"--config=" + s.Config,
		"--issuer-credentials=" + s.IssuerDir,
		"--trust-domain=" + s.TrustDomain,
		"--port=" + strconv.Itoa(s.Port),
		"--listen-address=" + or(s.Host, "127.0.0.1"),
		"--healthz-port=" + strconv.Itoa(s.HealthzPort),
		"--healthz-listen-address=127.0.0.1",
		"--metrics-port=" + strconv.Itoa(s.MetricsPort),
		"--metrics-listen-address=127.0.0.1",
	}
	if s.Kubeconfig != "" {
		args = append(args, "--kubeconfig="+s.Kubeconfig)
	}
	return proc.Spec{
		Name: "sentry",
		Path: bin,
		Args: args,
		Dir:  dir,
		Env:  env,
		Ports: []proc.Port{
			{Port: s.Port, What: "sentry gRPC"}, {Port: s.HealthzPort, What: "sentry healthz"},
			{Port: s.MetricsPort, What: "sentry metrics"},
		},
		Ready: proc.HTTP(fmt.Sprintf("http://127.0.0.1:%d/healthz", s.HealthzPort)),
	}
}

// Operator is Dapr's Kubernetes operator: it serves components and
// Configurations to the sidecars (Port), converts Subscriptions between
// versions (WebhookPort) and patches that webhook into the CRD. It takes its
// identity from sentry (the address in the daprsystem Configuration) with
// the service account token in DAPR_SENTRY_TOKEN_FILE.
type Operator struct {
	Port, WebhookPort, HealthzPort, MetricsPort int
	Kubeconfig, TrustAnchorsFile                string
	LogLevel                                    string
}

// Spec runs bin (operator) in dir; ready once its /healthz answers. Leader
// election is off: it needs an in-cluster namespace file, and one operator
// runs.
func (o Operator) Spec(bin, dir string, env []string) proc.Spec {
	return proc.Spec{
		Name: "operator",
		Path: bin,
		Args: []string{
			"--log-level=" + or(o.LogLevel, "info"),
			"--kubeconfig=" + o.Kubeconfig,
			"--trust-anchors-file=" + o.TrustAnchorsFile,
			"--disable-leader-election",
			"--watch-interval=0",
			"--port=" + strconv.Itoa(o.Port),
			"--webhook-server-port=" + strconv.Itoa(o.WebhookPort),
			"--healthz-port=" + strconv.Itoa(o.HealthzPort),
			"--healthz-listen-address=127.0.0.1",
			"--metrics-port=" + strconv.Itoa(o.MetricsPort),
			"--metrics-listen-address=127.0.0.1",
		},
		Dir: dir,
		Env: env,
		Ports: []proc.Port{
			{Port: o.Port, What: "operator API"}, {Port: o.WebhookPort, What: "operator webhook"},
			{Port: o.HealthzPort, What: "operator healthz"}, {Port: o.MetricsPort, What: "operator metrics"},
		},
		Ready: proc.HTTP(fmt.Sprintf("http://127.0.0.1:%d/healthz", o.HealthzPort)),
	}
}

// Injector is Dapr's sidecar injector, the mutating webhook that adds daprd
// to every pod with dapr.io/enabled. Its settings come by the environment
// (SIDECAR_IMAGE, NAMESPACE, DAPR_SENTRY_ADDRESS, ...), as the chart gives
// them.
type Injector struct {
	Port, HealthzPort, MetricsPort int
	Kubeconfig                     string
	LogLevel                       string
}

// Spec runs bin (injector) in dir; ready once its /healthz answers.
func (i Injector) Spec(bin, dir string, env []string) proc.Spec {
	return proc.Spec{
		Name: "injector",
		Path: bin,
		Args: []string{
			"--log-level=" + or(i.LogLevel, "info"),
			"--kubeconfig=" + i.Kubeconfig,
			"--port=" + strconv.Itoa(i.Port),
			"--healthz-port=" + strconv.Itoa(i.HealthzPort),
			"--healthz-listen-address=127.0.0.1",
			"--metrics-port=" + strconv.Itoa(i.MetricsPort),
			"--metrics-listen-address=127.0.0.1",
		},
		Dir: dir,
		Env: env,
		Ports: []proc.Port{
			{Port: i.Port, What: "injector webhook"}, {Port: i.HealthzPort, What: "injector healthz"},
			{Port: i.MetricsPort, What: "injector metrics"},
		},
		Ready: proc.HTTP(fmt.Sprintf("http://127.0.0.1:%d/healthz", i.HealthzPort)),
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
