package k8s

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/proc"
)

// TestPodRunsOnARealKubelet (L4, second step): the kubelet registers its
// node, runs a pod of an image built here in containerd with its sandbox
// (the pause image) and an address from the bridge, the readiness probe
// passes, and kube-proxy carries a Service's address to it.
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
    - name: catalog
      image: ghcr.io/daprshop/catalog:0.1.0
      imagePullPolicy: Never
      env:
        - {name: APP_API_TOKEN, value: app-token}
        - {name: DAPR_API_TOKEN, value: dapr-token}
      ports: [{name: http, containerPort: 8082}]
      readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1}
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
---
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
}
