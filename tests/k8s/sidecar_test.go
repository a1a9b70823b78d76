package k8s

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSidecarJoinsTheControlPlane (L4): an app pod that the real injector
// gave a daprd runs on the real node, and its sidecar reaches the whole
// control plane by the names the injector wrote, through the cluster's DNS
// and kube-proxy: its certificate from sentry (it does not start without
// one), its Configuration and Component from the operator, the scheduler
// (through its Service, then at the address it broadcasts) and placement
// (the actor state store makes it host the workflow engine's actors). It
// then serves the app: state through the Component the operator handed it.
func TestSidecarJoinsTheControlPlane(t *testing.T) {
	c, ctx := startWithDapr(t, Options{Kubelet: true}, 8*time.Minute)
	manifest := `apiVersion: v1
kind: Namespace
metadata: {name: l4, labels: {pod-security.kubernetes.io/enforce: restricted}}
---
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: l4, namespace: l4}
spec: {}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: l4-store, namespace: l4}
spec:
  type: state.in-memory
  version: v1
  metadata: [{name: actorStateStore, value: "true"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: catalog, namespace: l4}
spec:
  replicas: 1
  selector: {matchLabels: {app: catalog}}
  template:
    metadata:
      labels: {app: catalog}
      annotations:
        dapr.io/enabled: "true"
        dapr.io/app-id: catalog
        dapr.io/app-port: "8082"
        dapr.io/config: l4
        dapr.io/app-health-check-path: /healthz
        dapr.io/enable-app-health-check: "true"
        # The test reads daprd's API from the node.
        dapr.io/sidecar-listen-addresses: 0.0.0.0
    spec:
      # Mounted: daprd's built-in Kubernetes secret store reads secrets
      # with the pod's service account.
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
` + catalogContainer("        ")
	c.MustKubectl(t, ctx, manifest, "apply", "-f", "-")
	c.MustKubectl(t, ctx, "", "-n", "l4", "rollout", "status", "deployment/catalog", "--timeout=4m")
	ip := c.MustKubectl(t, ctx, "", "-n", "l4", "get", "pods", "-l", "app=catalog", "-o", "jsonpath={.items[0].status.podIP}")
	daprd := "http://" + ip + ":3500"

	var md struct {
		ID         string `json:"id"`
		Components []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"components"`
		Scheduler struct {
			Addresses []string `json:"connected_addresses"`
		} `json:"scheduler"`
		Actors struct {
			Placement string `json:"placement"`
		} `json:"actorRuntime"`
	}
	require.NoError(t, poll(ctx, time.Minute, func() error {
		if err := doJSON(ctx, http.MethodGet, daprd+"/v1.0/metadata", "", nil, http.StatusOK, &md); err != nil {
			return err
		}
		if len(md.Scheduler.Addresses) == 0 || md.Actors.Placement != "placement: connected" {
			return fmt.Errorf("daprd has not connected to the scheduler and placement: %+v", md)
		}
		return nil
	}))
	assert.Equal(t, "catalog", md.ID)
	assert.Contains(t, md.Components, struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}{"l4-store", "state.in-memory"}, "the operator handed the sidecar its namespace's Component")
	assert.Equal(t, []string{fmt.Sprintf("%s:%d", NodeIP, schedulerPort)}, md.Scheduler.Addresses,
		"connected to the scheduler through dapr-scheduler-server-a's Service, then to the address it broadcasts")

	require.NoError(t, doJSON(ctx, http.MethodPost, daprd+"/v1.0/state/l4-store", `[{"key":"k","value":"v"}]`, nil, http.StatusNoContent, nil),
		"state saved through the sidecar")
	var got string
	require.NoError(t, doJSON(ctx, http.MethodGet, daprd+"/v1.0/state/l4-store/k", "", nil, http.StatusOK, &got))
	assert.Equal(t, "v", got)

	logs := c.MustKubectl(t, ctx, "", "-n", "l4", "logs", "deployment/catalog", "-c", "daprd")
	assert.Contains(t, logs, "dapr initialized. Status: Running", "daprd's own log, read through the kubelet")
	args := c.MustKubectl(t, ctx, "", "-n", "l4", "get", "pods", "-l", "app=catalog", "-o", `jsonpath={.items[0].spec.containers[?(@.name=="daprd")].args}`)
	assert.Contains(t, args, "--enable-mtls", "the sidecar serves mTLS: it does not start before sentry has signed its certificate")
}
