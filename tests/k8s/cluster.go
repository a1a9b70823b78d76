package k8s

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/daprshop/daprshop/internal/proc"
)

// Version is the Kubernetes release tools/k8s builds.
const Version = "v1.34.4"

// Cluster is a running control plane: etcd and kube-apiserver, and the
// kubeconfig of a cluster administrator (group system:masters).
type Cluster struct {
	Root       string // the repository
	Dir        string // certificates, etcd's data, the kubeconfig
	Kubeconfig string
	bin        string
	pki        *pki
	lines      *proc.Lines
	procs      []*proc.Process
	// controllers: kube-controller-manager runs (it makes, among others,
	// each namespace's default service account).
	controllers bool
	// L4's node: containerd, then the kubelet and kube-proxy.
	containerd *Containerd
	nodeProcs  []*proc.Process
}

// Options say where the cluster keeps its files and writes its logs.
type Options struct {
	Root string    // the repository (holds .bin/k8s from `make k8s-tools`)
	Dir  string    // a fresh folder for the cluster's files
	Log  io.Writer // every process's lines, prefixed with its name
	// Controllers adds kube-controller-manager (L2 and up).
	Controllers bool
	// Nodes adds kube-scheduler and kwok, which plays the kubelet of every
	// node labelled type=kwok: it marks them Ready and runs their pods on
	// paper (L3). Nodes implies Controllers.
	Nodes bool
	// Kubelet adds kube-scheduler and a real node (L4, node.go): containerd
	// and runc running the images of .bin/k8s/images, a kubelet, CNI and
	// kube-proxy. Kubelet implies Controllers.
	Kubelet bool
}

// Start starts etcd, then kube-apiserver, and returns once the API server
// is ready. On failure it stops what it started.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	c := &Cluster{
		Root: o.Root, Dir: o.Dir, bin: filepath.Join(o.Root, ".bin", "k8s"),
		Kubeconfig: filepath.Join(o.Dir, "admin.kubeconfig"),
		lines:      proc.NewLines(o.Log, "k8s", "kube-controller-manager"),
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	o.Controllers = o.Controllers || o.Nodes || o.Kubelet
	bins := []string{"etcd", "kube-apiserver", "kubectl"}
	if o.Nodes {
		bins = append(bins, "kube-scheduler", "kwok")
	}
	if o.Kubelet {
		bins = append(bins, "kube-scheduler", "kubelet", "kube-proxy")
	}
	if o.Controllers {
		bins = append(bins, "kube-controller-manager")
	}
	for _, b := range bins {
		if _, err := os.Stat(filepath.Join(c.bin, b)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run `make k8s-tools` first", b, c.bin)
		}
	}
	if c.pki, err = newPKI(filepath.Join(o.Dir, "pki")); err != nil {
		return nil, err
	}
	hosts := []string{"127.0.0.1", NodeIP, "10.96.0.1", "localhost", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if err := c.pki.issue("apiserver", "kube-apiserver", nil, hosts, x509.ExtKeyUsageServerAuth); err != nil {
		return nil, err
	}
	if err := c.pki.issue("admin", "admin", []string{"system:masters"}, nil, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	// How the API server reaches the kubelets for logs, exec and
	// port-forward (kubeadm's apiserver-kubelet-client).
	if err := c.pki.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	if err := c.pki.issue("controller-manager", "system:kube-controller-manager", nil, []string{"127.0.0.1"}, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	if err := c.pki.issue("scheduler", "system:kube-scheduler", nil, []string{"127.0.0.1"}, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	if err := c.pki.serviceAccountKey(); err != nil {
		return nil, err
	}
	if err := c.pki.kubeconfig(c.Kubeconfig, "admin", "https://"+NodeIP+":6443"); err != nil {
		return nil, err
	}
	if err := c.run(ctx, c.etcd()); err != nil {
		return nil, err
	}
	apiserver, err := c.apiserver()
	if err != nil {
		return nil, err
	}
	if err := c.run(ctx, apiserver); err != nil {
		return nil, err
	}
	if o.Controllers {
		cm, err := c.controllerManager()
		if err != nil {
			return nil, err
		}
		if err := c.run(ctx, cm); err != nil {
			return nil, err
		}
		c.controllers = true
	}
	if o.Kubelet || o.Nodes {
		s, err := c.scheduler()
		if err != nil {
			return nil, err
		}
		if err := c.run(ctx, s); err != nil {
			return nil, err
		}
	}
	if o.Kubelet {
		if err := c.startNode(ctx, o.Log); err != nil {
			return nil, err
		}
	}
	if o.Nodes {
		s, err := c.kwok()
		if err != nil {
			return nil, err
		}
		if err := c.run(ctx, s); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// run starts a process of the cluster and waits until it is ready.
func (c *Cluster) run(ctx context.Context, spec proc.Spec) error {
	spec.Once = true // a death fails the test; nothing rides it out here
	p := proc.New(spec, c.lines, nil)
	c.procs = append(c.procs, p)
	p.Start()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return p.WaitReady(ctx)
}

// Stop stops every process, the last started first (the node before the
// control plane).
func (c *Cluster) Stop() {
	if err := c.stopNode(); err != nil {
		c.lines.System("stopping the node: %v", err)
	}
	for _, p := range slices.Backward(c.procs) {
		p.Stop()
	}
	c.procs = nil
}

func (c *Cluster) etcd() proc.Spec {
	return proc.Spec{
		Name: "etcd",
		Path: filepath.Join(c.bin, "etcd"),
		Args: []string{
			"--name=default",
			"--data-dir=" + filepath.Join(c.Dir, "etcd"),
			"--listen-client-urls=http://127.0.0.1:2379",
			"--advertise-client-urls=http://127.0.0.1:2379",
			"--listen-peer-urls=http://127.0.0.1:2380",
			"--initial-advertise-peer-urls=http://127.0.0.1:2380",
			"--initial-cluster=default=http://127.0.0.1:2380",
			"--log-level=warn",
		},
		Ready: proc.HTTP("http://127.0.0.1:2379/health", http.StatusOK),
	}
}

// apiserver is kube-apiserver as kubeadm would configure it for one node:
// TLS from the cluster's CA, client certificates, RBAC and the Node
// authorizer, service account tokens, and the admission plugins that are
// on by default (Pod Security among them) plus NodeRestriction.
func (c *Cluster) apiserver() (proc.Spec, error) {
	ca, err := os.ReadFile(c.pki.path("ca.crt"))
	if err != nil {
		return proc.Spec{}, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	ready := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+NodeIP+":6443/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s %s", resp.Status, body)
		}
		return nil
	}
	return proc.Spec{
		Name: "kube-apiserver",
		Path: filepath.Join(c.bin, "kube-apiserver"),
		Args: []string{
			"--etcd-servers=http://127.0.0.1:2379",
			"--advertise-address=" + NodeIP,
			"--secure-port=6443",
			"--tls-cert-file=" + c.pki.path("apiserver.crt"),
			"--tls-private-key-file=" + c.pki.path("apiserver.key"),
			"--client-ca-file=" + c.pki.path("ca.crt"),
			"--authorization-mode=Node,RBAC",
			"--enable-admission-plugins=NodeRestriction",
			"--service-cluster-ip-range=" + ServiceRange,
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + c.pki.path("sa.pub"),
			"--service-account-signing-key-file=" + c.pki.path("sa.key"),
			"--allow-privileged=false",
			"--kubelet-client-certificate=" + c.pki.path("apiserver-kubelet-client.crt"),
			"--kubelet-client-key=" + c.pki.path("apiserver-kubelet-client.key"),
			"--kubelet-certificate-authority=" + c.pki.path("ca.crt"),
			"--kubelet-preferred-address-types=InternalIP",
			// Webhooks and CRD conversion reach a Service through its
			// EndpointSlices rather than its ClusterIP: the Dapr control
			// plane runs beside the API server (no kube-proxy before L4).
			"--enable-aggregator-routing=true",
			"--profiling=false",
			"--v=1",
		},
		Ready: ready,
	}, nil
}

// controllerManager is kube-controller-manager with a client per
// controller (--use-service-account-credentials): pods are then created by
// the replicaset controller's service account, the identity Dapr's
// injector requires before it injects a sidecar.
func (c *Cluster) controllerManager() (proc.Spec, error) {
	kubeconfig := filepath.Join(c.Dir, "controller-manager.kubeconfig")
	if err := c.pki.kubeconfig(kubeconfig, "controller-manager", "https://"+NodeIP+":6443"); err != nil {
		return proc.Spec{}, err
	}
	return proc.Spec{
		Name: "kube-controller-manager",
		Path: filepath.Join(c.bin, "kube-controller-manager"),
		Args: []string{
			"--kubeconfig=" + kubeconfig,
			"--authentication-kubeconfig=" + kubeconfig,
			"--authorization-kubeconfig=" + kubeconfig,
			"--use-service-account-credentials=true",
			"--service-account-private-key-file=" + c.pki.path("sa.key"),
			"--root-ca-file=" + c.pki.path("ca.crt"),
			"--cluster-signing-cert-file=" + c.pki.path("ca.crt"),
			"--cluster-signing-key-file=" + c.pki.path("ca.key"),
			"--service-cluster-ip-range=" + ServiceRange,
			"--leader-elect=false",
			"--bind-address=127.0.0.1",
			"--secure-port=10257",
			"--v=1",
		},
		Ready: insecureHealthz("https://127.0.0.1:10257/healthz"),
	}, nil
}

// scheduler is kube-scheduler with its own identity (system:kube-scheduler).
func (c *Cluster) scheduler() (proc.Spec, error) {
	kubeconfig := filepath.Join(c.Dir, "scheduler.kubeconfig")
	if err := c.pki.kubeconfig(kubeconfig, "scheduler", "https://"+NodeIP+":6443"); err != nil {
		return proc.Spec{}, err
	}
	return proc.Spec{
		Name: "kube-scheduler",
		Path: filepath.Join(c.bin, "kube-scheduler"),
		Args: []string{
			"--kubeconfig=" + kubeconfig,
			"--authentication-kubeconfig=" + kubeconfig,
			"--authorization-kubeconfig=" + kubeconfig,
			"--leader-elect=false",
			"--bind-address=127.0.0.1",
			"--secure-port=10259",
			"--v=1",
		},
		Ready: insecureHealthz("https://127.0.0.1:10259/healthz"),
	}, nil
}

// kwok plays the kubelet of the nodes labelled type=kwok, with kwok's own
// "fast" stages (copied from its module by make k8s-tools): a node is Ready
// at once and keeps its lease; a pod bound to it gets an address from
// PodCIDR and is Running and Ready at once; a deleted pod goes at once.
func (c *Cluster) kwok() (proc.Spec, error) {
	return proc.Spec{
		Name: "kwok",
		Path: filepath.Join(c.bin, "kwok"),
		Args: []string{
			"--kubeconfig=" + c.Kubeconfig,
			"--config=" + filepath.Join(c.bin, "kwok-stages.yaml"),
			"--manage-all-nodes=false",
			"--manage-nodes-with-label-selector=type=kwok",
			"--cidr=" + PodCIDR,
			"--node-ip=" + NodeIP,
			"--server-address=127.0.0.1:10247",
			// Renew each node's lease, as a kubelet does (kwokctl's value).
			// Without it the node lifecycle controller finds the nodes
			// silent after its grace period, marks their pods not ready,
			// and every disruption budget drops to zero.
			"--node-lease-duration-seconds=40",
		},
		Ready: proc.HTTP("http://127.0.0.1:10247/healthz"),
	}, nil
}

// insecureHealthz probes a component's /healthz over TLS without checking
// its certificate, which it makes itself (self-signed) at start.
func insecureHealthz(url string) proc.Probe {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // its own self-signed certificate, on loopback
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}

// Kubectl runs kubectl against the cluster in the repository's folder and
// returns what it wrote to stdout and stderr.
func (c *Cluster) Kubectl(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "kubectl"), append([]string{"--kubeconfig=" + c.Kubeconfig}, args...)...)
	cmd.Dir = c.Root
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		err = fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), errb.String(), err
}
