package k8s

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pod is the part of a Pod the L2 checks read.
type pod struct {
	Metadata struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
		Labels      map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Containers []container `json:"containers"`
		Volumes    []struct {
			Name string `json:"name"`
		} `json:"volumes"`
	} `json:"spec"`
}

type container struct {
	Name            string   `json:"name"`
	Image           string   `json:"image"`
	Args            []string `json:"args"`
	SecurityContext struct {
		RunAsNonRoot             *bool `json:"runAsNonRoot"`
		ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `json:"drop"`
		} `json:"capabilities"`
	} `json:"securityContext"`
	Resources struct {
		Limits   map[string]string `json:"limits"`
		Requests map[string]string `json:"requests"`
	} `json:"resources"`
}

// L2: the real controllers create every app's pods, the real Dapr sidecar
// injector (its webhook called by the API server) adds daprd with the
// settings of the pod's annotations, and the namespace's restricted Pod
// Security admits the result.
func TestSidecarsInjected(t *testing.T) {
	c, ctx := startWithDapr(t, Options{Controllers: true}, 10*time.Minute)
	PrepareNamespace(t, ctx, c)
	c.MustKubectl(t, ctx, "", "apply", "--server-side", "-k", "deploy/k8s/infra/redis")
	c.MustKubectl(t, ctx, "", "apply", "--server-side", "-k", "deploy/k8s/overlays/redis")

	deployments := strings.Fields(c.MustKubectl(t, ctx, "", "-n", "daprshop", "get", "deployments", "-o", "jsonpath={.items[*].metadata.name}"))
	require.Len(t, deployments, len(Apps), "one Deployment per app")
	pods := map[string]pod{}
	err := poll(ctx, 2*time.Minute, func() error {
		out, _, err := c.Kubectl(ctx, "", "-n", "daprshop", "get", "pods", "-l", "app.kubernetes.io/part-of=daprshop", "-o", "json")
		if err != nil {
			return err
		}
		var list struct{ Items []pod }
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return err
		}
		for _, p := range list.Items {
			pods[p.Metadata.Annotations["dapr.io/app-id"]] = p
		}
		for _, d := range deployments {
			if _, ok := pods[d]; !ok {
				events, _, _ := c.Kubectl(ctx, "", "-n", "daprshop", "get", "events", "--field-selector=type=Warning", "-o", "custom-columns=OBJ:.involvedObject.name,MSG:.message")
				return fmt.Errorf("no pod of %s yet; warnings:\n%s", d, events)
			}
		}
		return nil
	})
	require.NoError(t, err, "every Deployment has its pods (the replicaset controller made them, admission let them in)")

	for _, app := range deployments {
		t.Run(app, func(t *testing.T) {
			p := pods[app]
			a := p.Metadata.Annotations
			i := slices.IndexFunc(p.Spec.Containers, func(c container) bool { return c.Name == "daprd" })
			require.GreaterOrEqual(t, i, 0, "the injector added daprd (its webhook's failure policy is Ignore: a pod without it is admitted too)")
			d := p.Spec.Containers[i]
			assert.Equal(t, SidecarImage, d.Image)
			for flag, ann := range map[string]string{
				"--app-id": "dapr.io/app-id", "--app-port": "dapr.io/app-port", "--config": "dapr.io/config",
				"--dapr-graceful-shutdown-seconds": "dapr.io/graceful-shutdown-seconds",
				"--dapr-block-shutdown-duration":   "dapr.io/block-shutdown-duration",
				"--app-protocol":                   "dapr.io/app-protocol",
				"--app-health-check-path":          "dapr.io/app-health-check-path",
			} {
				require.NotEmpty(t, a[ann], "the pod carries %s", ann)
				assert.Equal(t, a[ann], argValue(d.Args, flag), "%s from %s", flag, ann)
			}
			assert.Contains(t, d.Args, "--enable-mtls", "mTLS, from daprsystem")
			assert.Equal(t, "dapr-sentry.dapr-system.svc.cluster.local:443", argValue(d.Args, "--sentry-address"))
			assert.Equal(t, a["dapr.io/sidecar-cpu-limit"], d.Resources.Limits["cpu"])
			assert.Equal(t, a["dapr.io/sidecar-memory-limit"], d.Resources.Limits["memory"])
			assert.Equal(t, a["dapr.io/sidecar-memory-request"], d.Resources.Requests["memory"])
			sc := d.SecurityContext
			assert.True(t, sc.RunAsNonRoot != nil && *sc.RunAsNonRoot, "daprd runs as non-root")
			assert.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, "daprd's root is read-only")
			assert.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation)
			assert.Equal(t, []string{"ALL"}, sc.Capabilities.Drop, "every capability dropped (the guide's injector setting)")
			assert.True(t, slices.ContainsFunc(p.Spec.Volumes, func(v struct {
				Name string `json:"name"`
			}) bool {
				return v.Name == "dapr-identity-token"
			}), "daprd gets its projected sentry token")
			if a["dapr.io/inject-pluggable-components"] == "true" {
				assert.True(t, slices.ContainsFunc(p.Spec.Containers, func(c container) bool { return c.Name == "redisstate" }),
					"the state store component's container is injected beside daprd")
			}
		})
	}
}

// argValue is the value of --flag=value or --flag value in args.
func argValue(args []string, flag string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
