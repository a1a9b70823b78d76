package k8s

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/daprshop/daprshop/internal/proc"
)

// L4's node: a real kubelet on containerd's CRI, runc, Debian's CNI
// plugins (a bridge with host-local addresses from NodePodCIDR) and
// kube-proxy in iptables mode, all inside the harness's namespaces.
const (
	NodeName    = "node-1"
	NodePodCIDR = "10.244.0.0/24"
	// ClusterDNS is the kube-dns Service's address (kubeadm's choice).
	ClusterDNS = "10.96.0.10"
	cniBinDir  = "/usr/lib/cni" // Debian's containernetworking-plugins
)

// criSection configures containerd's CRI plugin for the kubelet: the
// pause image built here as the sandbox, runc with cgroupfs (this machine
// has cgroup v1 and no systemd), Debian's CNI plugins with the node's
// network (written into dir/cni).
func criSection(dir string) (string, error) {
	cni := filepath.Join(dir, "cni")
	if err := os.MkdirAll(cni, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(cni, "10-daprshop.conflist"), []byte(cniConfig()), 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf(`[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10.1"
  # This machine's root lacks CAP_SYS_RESOURCE (its bounding set drops it),
  # so no process may lower its OOM score: a sandbox's -998 made runc fail
  # ("can't get final child's PID from pipe"). Scores are kept at or above
  # containerd's own, as for rootless containerd.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, cniBinDir, cni), nil
}

// cniConfig is the node's pod network: a bridge holding the node's pod
// range, the node as the pods' gateway, and port mappings.
func cniConfig() string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "daprshop-pods",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, NodePodCIDR)
}

// kubeletSpec is the kubelet of NodeName, as kubeadm would configure it
// for this machine: client and serving certificates from the cluster's CA,
// webhook authentication and authorization, cgroupfs, the cluster's DNS.
func (c *Cluster) kubeletSpec(dir, socket string) (proc.Spec, error) {
	if err := c.pki.issue("kubelet-client", "system:node:"+NodeName, []string{"system:nodes"}, nil, x509.ExtKeyUsageClientAuth); err != nil {
		return proc.Spec{}, err
	}
	if err := c.pki.issue("kubelet-server", "system:node:"+NodeName, nil, []string{NodeIP, NodeName}, x509.ExtKeyUsageServerAuth); err != nil {
		return proc.Spec{}, err
	}
	kubeconfig := filepath.Join(c.Dir, "kubelet.kubeconfig")
	if err := c.pki.kubeconfig(kubeconfig, "kubelet-client", "https://"+NodeIP+":6443"); err != nil {
		return proc.Spec{}, err
	}
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver "+ClusterDNS+"\n"), 0o644); err != nil {
		return proc.Spec{}, err
	}
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
tlsCertFile: %q
tlsPrivateKeyFile: %q
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%s
clusterDNS: [%s]
clusterDomain: cluster.local
resolvConf: %q
podCIDR: %s
podLogsDir: %q
serializeImagePulls: false
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", imagefs.available: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
syncFrequency: 10s
fileCheckFrequency: 10s
`, NodeIP, c.pki.path("ca.crt"), c.pki.path("kubelet-server.crt"), c.pki.path("kubelet-server.key"),
		socket, ClusterDNS, resolv, NodePodCIDR, filepath.Join(dir, "pod-logs"))
	path := filepath.Join(dir, "kubelet.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return proc.Spec{}, err
	}
	return proc.Spec{
		Name: "kubelet",
		Path: filepath.Join(c.bin, "kubelet"),
		Args: []string{
			"--config=" + path,
			"--kubeconfig=" + kubeconfig,
			"--root-dir=" + filepath.Join(dir, "kubelet"),
			"--hostname-override=" + NodeName,
			"--node-ip=" + NodeIP,
			"--v=1",
		},
		Ready: proc.HTTP("http://127.0.0.1:10248/healthz"),
	}, nil
}

// kubeProxySpec is kube-proxy in iptables mode with its own identity
// (system:kube-proxy, bound to system:node-proxier by the API server's
// bootstrap roles).
func (c *Cluster) kubeProxySpec() (proc.Spec, error) {
	if err := c.pki.issue("kube-proxy", "system:kube-proxy", nil, nil, x509.ExtKeyUsageClientAuth); err != nil {
		return proc.Spec{}, err
	}
	kubeconfig := filepath.Join(c.Dir, "kube-proxy.kubeconfig")
	if err := c.pki.kubeconfig(kubeconfig, "kube-proxy", "https://"+NodeIP+":6443"); err != nil {
		return proc.Spec{}, err
	}
	return proc.Spec{
		Name: "kube-proxy",
		Path: filepath.Join(c.bin, "kube-proxy"),
		Args: []string{
			"--kubeconfig=" + kubeconfig,
			"--hostname-override=" + NodeName,
			"--proxy-mode=iptables",
			"--cluster-cidr=10.244.0.0/16",
			// The namespace's conntrack table is the machine's: leave its
			// size alone.
			"--conntrack-max-per-core=0",
			"--conntrack-tcp-timeout-established=0",
			"--conntrack-tcp-timeout-close-wait=0",
			"--healthz-bind-address=127.0.0.1:10256",
			"--metrics-bind-address=127.0.0.1:10249",
			"--v=1",
		},
		Ready: proc.HTTP("http://127.0.0.1:10256/healthz"),
	}, nil
}

// startNode starts containerd with its CRI plugin and imports every
// image of .bin/k8s/images into the kubelet's namespace, then the kubelet
// and kube-proxy, waits until the node is Ready, and runs the cluster's
// DNS on it.
func (c *Cluster) startNode(ctx context.Context, log io.Writer) error {
	dir := filepath.Join(c.Dir, "node")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ctd, err := StartContainerd(ctx, dir, log, true)
	if err != nil {
		return err
	}
	c.containerd = ctd
	if err := ctd.ImportAll(ctx, filepath.Join(c.bin, "images")); err != nil {
		return err
	}
	kubelet, err := c.kubeletSpec(dir, ctd.Socket)
	if err != nil {
		return err
	}
	proxy, err := c.kubeProxySpec()
	if err != nil {
		return err
	}
	for _, spec := range []proc.Spec{kubelet, proxy} {
		spec.Once = true
		p := proc.New(spec, c.lines, nil)
		c.nodeProcs = append(c.nodeProcs, p)
		p.Start()
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := p.WaitReady(wctx)
		cancel()
		if err != nil {
			return err
		}
	}
	if _, _, err := c.Kubectl(ctx, "", "wait", "--for=condition=Ready", "node/"+NodeName, "--timeout=2m"); err != nil {
		return err
	}
	// The cluster's DNS (testdata/coredns.yaml), as kubeadm's addon phase
	// installs it once the node is up.
	if _, _, err := c.Kubectl(ctx, "", "apply", "--server-side", "-f", filepath.Join(c.Root, "tests", "k8s", "testdata", "coredns.yaml")); err != nil {
		return err
	}
	_, _, err = c.Kubectl(ctx, "", "-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=2m")
	return err
}

// stopNode stops kube-proxy and the kubelet, then every container they
// left and containerd, and unmounts what the kubelet mounted under the
// cluster's folder (secrets, projected tokens), so that it can be removed.
func (c *Cluster) stopNode() error {
	for _, p := range slices.Backward(c.nodeProcs) {
		p.Stop()
	}
	c.nodeProcs = nil
	var errs []error
	if c.containerd != nil {
		errs = append(errs, c.containerd.Stop())
		c.containerd = nil
	}
	errs = append(errs, unmountUnder(c.Dir), removeCgroups("kubepods"))
	return errors.Join(errs...)
}

// removeCgroups removes the cgroup tree name (the kubelet's QoS and pod
// cgroups, which outlive it) from every hierarchy, the deepest first: the
// cgroup file system is the machine's, not the namespace's.
func removeCgroups(name string) error {
	roots, err := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", name))
	if err != nil {
		return err
	}
	var errs []error
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for _, d := range slices.Backward(dirs) {
			if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// unmountUnder unmounts every mount point below dir, the deepest first.
func unmountUnder(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
