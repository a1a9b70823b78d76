package k8s

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/proc"
)

// TestPodRunsOnARealKubelet (L4): the kubelet registers its node, runs a
// pod of an image built here in containerd with its sandbox (the pause
// image) and an address from the bridge, the readiness probe passes,
// kube-proxy carries a Service's address to it, the cluster's DNS (CoreDNS
// in a pod) names the Service, and the API server reads the pod's log from
// the kubelet (its kubelet client certificate against the kubelet's
// webhook authorization).
func TestPodRunsOnARealKubelet(t *testing.T) {
	c := startClusterWith(t, Options{Nodes: true, Kubelet: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	manifest := `apiVersion: v1
kind: Namespace
metadata: {name: l4}
---
apiVersion: v1
kind: Pod
metadata: {name: catalog, namespace: l4, labels: {app: catalog}}
spec:
  nodeName: ` + NodeName + `
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
` + catalogContainer("    ") + `---
apiVersion: v1
kind: Service
metadata: {name: catalog, namespace: l4}
spec:
  clusterIP: 10.96.0.80
  selector: {app: catalog}
  ports: [{port: 80, targetPort: http}]
`
	c.MustKubectl(t, ctx, manifest, "apply", "-f", "-")
	c.MustKubectl(t, ctx, "", "-n", "l4", "wait", "--for=condition=Ready", "pod/catalog", "--timeout=3m")
	ip := c.MustKubectl(t, ctx, "", "-n", "l4", "get", "pod", "catalog", "-o", "jsonpath={.status.podIP}")
	require.True(t, strings.HasPrefix(ip, "10.244.0."), "the pod has an address from the node's bridge: %q", ip)
	require.NoError(t, awaitProbe(ctx, proc.HTTP("http://"+ip+":8082/healthz", http.StatusOK)))
	require.NoError(t, awaitProbe(ctx, proc.HTTP("http://10.96.0.80/healthz", http.StatusOK)), "kube-proxy carries the Service's address")

	dns := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort(ClusterDNS, "53"))
	}}
	addrs, err := dns.LookupHost(ctx, "catalog.l4.svc.cluster.local")
	require.NoError(t, err, "the cluster's DNS answers for a Service")
	assert.Equal(t, []string{"10.96.0.80"}, addrs)
	_, err = dns.LookupHost(ctx, "nothing.l4.svc.cluster.local")
	var notFound *net.DNSError
	require.ErrorAs(t, err, &notFound)
	assert.True(t, notFound.IsNotFound, "a Service that does not exist is not found: %v", err)

	logs := c.MustKubectl(t, ctx, "", "-n", "l4", "logs", "catalog")
	assert.Contains(t, logs, `"msg":"listening"`, "the app's own log, read through the kubelet")
}

// catalogContainer is a container of the catalog image as the manifests
// run it (non-root, read-only root, no capability), its lines indented by
// indent, for the pods the L4 tests make themselves.
func catalogContainer(indent string) string {
	lines := []string{
		"- name: catalog",
		"  image: ghcr.io/daprshop/catalog:0.1.0",
		"  imagePullPolicy: Never",
		"  env:",
		"    - {name: APP_API_TOKEN, value: app-token}",
		"    - {name: DAPR_API_TOKEN, value: dapr-token}",
		"  ports: [{name: http, containerPort: 8082}]",
		"  readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1}",
		"  securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}",
	}
	return indent + strings.Join(lines, "\n"+indent) + "\n"
}
