// Package k8s runs daprshop's Kubernetes manifests against a real cluster
// built here from source (make test-k8s): etcd and kube-apiserver from
// tools/k8s, Dapr's CRDs from its v1.18.2 chart, and the manifests under
// deploy/k8s applied with kubectl as docs/kubernetes.md tells a user to.
// The whole cluster runs inside a network namespace of its own, so that
// nothing it serves or dials can leave the machine, and so that its fixed
// ports (2379, 6443) collide with nothing.
package k8s

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// inNamespaceEnv marks a process that runs inside the harness's network
// namespace.
const inNamespaceEnv = "DAPRSHOP_K8S_NETNS"

// Node addresses inside the namespace: the node's own (the API server
// advertises it: a loopback address is refused), and the Service range.
const (
	NodeIP       = "10.200.0.1"
	nodeCIDR     = NodeIP + "/24"
	ServiceRange = "10.96.0.0/12"
	// PodCIDR is where kwok's pods get their addresses (L3).
	PodCIDR = "10.244.0.1/16"
)

// InNamespace reports whether this process already runs in the namespace.
func InNamespace() bool { return os.Getenv(inNamespaceEnv) != "" }

// Reexec runs this program again (with the same arguments) inside a new
// network namespace holding loopback and one veth pair that carries the
// node's address, and a mount namespace with a /run of its own, and
// returns its exit code. The namespace lives as long
// as the processes in it: unshare kills its child when it dies itself
// (--kill-child), every process the harness starts dies with its parent
// (internal/proc), and the namespace goes with the last of them.
func Reexec() (int, error) {
	if os.Geteuid() != 0 {
		return 1, errors.New("make test-k8s needs root: it makes a network namespace (unshare --net) for the cluster, and later a kubelet")
	}
	// A namespace's ephemeral ports are its own (the machine's reserved
	// ports do not carry over): kept below every fixed port the cluster
	// listens on (50001 and up), so that no client connection takes one
	// first (seen in CI: the injector's metrics port, 59094, in use).
	setup := fmt.Sprintf(`set -e
echo "32768 49999" > /proc/sys/net/ipv4/ip_local_port_range
echo 1 > /proc/sys/net/ipv4/ip_forward
ip link set lo up
ip link add k8s0 type veth peer name k8s1
ip addr add %s dev k8s0
ip link set k8s0 up
ip link set k8s1 up
ip route add %s dev k8s0
mount -t tmpfs -o mode=0755 daprshop-k8s-run /run
for d in /var/lib/kubelet /var/lib/cni /var/log/containers /var/log/pods; do
  mkdir -p "$d" && mount -t tmpfs -o mode=0755 daprshop-k8s-node "$d"
done
mkdir /run/daprshop-sysctl
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
    kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  f=/run/daprshop-sysctl/$(echo "${kv%%=*}" | tr / .)
  echo "${kv#*=}" > "$f"
  mount --bind -o ro "$f" "/proc/sys/${kv%%=*}"
done
exec "$0" "$@"`, nodeCIDR, ServiceRange)
	// A mount namespace too (private by default), whose /run is a tmpfs of
	// its own: the cluster's processes write there (the Dapr injector's
	// sentry token, the kubelet's and containerd's sockets), and the
	// machine's /run is neither seen nor changed. In it, the six kernel
	// settings the kubelet wants (it sets them at start when they differ,
	// and they are the machine's, not the namespace's: panic on an oops,
	// overcommit) read as it wants them, from files bound over them: the
	// machine's own stay as they are. The folders the kubelet and the CNI
	// plugins write at fixed paths (device plugins, container log links,
	// IP address leases) are tmpfs of the namespace's own too.
	args := append([]string{"--net", "--mount", "--fork", "--kill-child", "--", "sh", "-c", setup}, os.Args...)
	cmd := exec.Command("unshare", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), inNamespaceEnv+"=1")
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 1, fmt.Errorf("unshare --net: %w", err)
	}
	return 0, nil
}
