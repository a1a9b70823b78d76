package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The overlays and the infra manifests, in the order the guide
// (docs/kubernetes.md) applies them: infra first, then an overlay. The
// overlays go into the one namespace, the redis one last. overlays/kong is
// not among them: Kong's CRDs are not available here (the Kong modules are
// not on the Go module proxy), and an API server refuses a KongPlugin
// without them; check-k8s renders and checks it.
var (
	infra    = []string{"deploy/k8s/infra/jaeger", "deploy/k8s/infra/redis", "deploy/k8s/infra/postgres"}
	overlays = []string{"deploy/k8s/overlays/kafka", "deploy/k8s/overlays/traefik", "deploy/k8s/overlays/redis"}
)

// L1: every manifest of deploy/k8s is accepted by a real API server, with
// Dapr's CRDs installed and the app namespace under the restricted Pod
// Security Standard, without a warning; and broken manifests are refused
// by the API server with its own message.
func TestManifestsOnAPIServer(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	InstallDaprCRDs(t, ctx, c)
	installTraefikCRDs(t, ctx, c)
	PrepareNamespace(t, ctx, c)

	for _, dir := range append(append([]string(nil), infra...), overlays...) {
		t.Run("apply "+filepath.Base(filepath.Dir(dir))+"/"+filepath.Base(dir), func(t *testing.T) {
			out := c.MustKubectl(t, ctx, "", "apply", "--server-side", "-k", dir)
			rendered := c.MustKubectl(t, ctx, "", "kustomize", dir)
			docs := 0
			for _, d := range strings.Split(rendered, "\n---\n") {
				if strings.Contains(d, "kind:") {
					docs++
				}
			}
			assert.Equal(t, docs, strings.Count(out, " serverside-applied\n"), "every object applied:\n%s", out)
			// Every object is there, as the server stored it.
			names := c.MustKubectl(t, ctx, "", "get", "-k", dir, "-o", "name")
			assert.Len(t, strings.Fields(names), docs)
		})
	}

	t.Run("every pod template is admitted by restricted Pod Security", func(t *testing.T) {
		if !c.controllers {
			c.MustKubectl(t, ctx, "", "-n", "observability", "create", "serviceaccount", "default")
		}
		for _, ns := range []string{"daprshop", "observability"} {
			for _, w := range podTemplates(t, ctx, c, ns) {
				pod := map[string]any{
					"apiVersion": "v1", "kind": "Pod",
					"metadata": map[string]any{"name": w.name + "-dry-run", "namespace": ns, "labels": w.labels},
					"spec":     w.spec,
				}
				b, err := json.Marshal(pod)
				require.NoError(t, err)
				// A dry run goes through admission as a real create would.
				c.MustKubectl(t, ctx, string(b), "create", "--dry-run=server", "-f", "-")
			}
		}
	})
}

// workload is a pod template of a Deployment or StatefulSet.
type workload struct {
	name   string
	labels map[string]any
	spec   map[string]any
}

func podTemplates(t *testing.T, ctx context.Context, c *Cluster, ns string) []workload {
	t.Helper()
	out := c.MustKubectl(t, ctx, "", "-n", ns, "get", "deployments,statefulsets", "-o", "json")
	var list struct {
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Template struct {
					Metadata struct {
						Labels map[string]any `json:"labels"`
					} `json:"metadata"`
					Spec map[string]any `json:"spec"`
				} `json:"template"`
				VolumeClaimTemplates []struct {
					Metadata struct {
						Name string `json:"name"`
					} `json:"metadata"`
				} `json:"volumeClaimTemplates"`
			} `json:"spec"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	var ws []workload
	for _, it := range list.Items {
		// A StatefulSet's pods get a volume per claim template, bound to
		// the claim the controller makes (<template>-<set>-<ordinal>).
		for _, vct := range it.Spec.VolumeClaimTemplates {
			vols, _ := it.Spec.Template.Spec["volumes"].([]any)
			it.Spec.Template.Spec["volumes"] = append(vols, map[string]any{
				"name":                  vct.Metadata.Name,
				"persistentVolumeClaim": map[string]any{"claimName": vct.Metadata.Name + "-" + it.Metadata.Name + "-0"},
			})
		}
		ws = append(ws, workload{name: strings.ToLower(it.Kind) + "-" + it.Metadata.Name, labels: it.Spec.Template.Metadata.Labels, spec: it.Spec.Template.Spec})
	}
	return ws
}

// Broken manifests are refused by the API server itself (strict field
// validation, the CRD schemas, Pod Security), with its own message.
func TestBrokenManifestsAreRefused(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	InstallDaprCRDs(t, ctx, c)
	installTraefikCRDs(t, ctx, c)
	PrepareNamespace(t, ctx, c)

	tests := []struct {
		name     string
		manifest string
		want     []string // in kubectl's error, from the server
		warning  string   // accepted, but with this warning
	}{
		{
			name: "a field the Component CRD does not have",
			manifest: `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: statestore, namespace: daprshop}
spec: {type: state.redis, version: v1, metadata: [], ttl: 5}`,
			want: []string{".spec.ttl: field not declared in schema"},
		},
		{
			name: "a Component without its version (the CRD requires it)",
			manifest: `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: statestore, namespace: daprshop}
spec: {type: state.redis, metadata: []}`,
			want: []string{"spec.version: Required value"},
		},
		{
			name: "a misspelt field of a Configuration",
			manifest: `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: gateway, namespace: daprshop}
spec: {acessControl: {defaultAction: deny}}`,
			want: []string{".spec.acessControl: field not declared in schema"},
		},
		{
			name: "a misspelt field of a Deployment",
			manifest: `apiVersion: apps/v1
kind: Deployment
metadata: {name: users, namespace: daprshop}
spec:
  selector: {matchLabels: {app: users}}
  template:
    metadata: {labels: {app: users}}
    spec: {containers: [{name: users, image: "ghcr.io/daprshop/users:1", imagePullPolice: Always}]}`,
			want: []string{`.spec.template.spec.containers[name="users"].imagePullPolice: field not declared in schema`},
		},
		{
			name: "a Traefik rate limit with a negative average (Traefik's schema)",
			manifest: `apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: edge-rate-limit, namespace: daprshop}
spec: {rateLimit: {average: -1, burst: 20}}`,
			want: []string{"spec.rateLimit.average: Invalid value: -1"},
		},
		{
			name: "a misspelt Traefik middleware",
			manifest: `apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: edge-rate-limit, namespace: daprshop}
spec: {rateLimt: {average: 10}}`,
			want: []string{".spec.rateLimt: field not declared in schema"},
		},
		{
			name: "a kind nobody installed",
			manifest: `apiVersion: dapr.io/v1alpha1
kind: Componnt
metadata: {name: statestore, namespace: daprshop}`,
			want: []string{`no matches for kind "Componnt" in version "dapr.io/v1alpha1"`},
		},
		{
			name: "a pod the restricted standard refuses",
			manifest: `apiVersion: v1
kind: Pod
metadata: {name: root, namespace: daprshop}
spec: {containers: [{name: sh, image: "debian:12"}]}`,
			want: []string{`is forbidden: violates PodSecurity "restricted:latest"`, "allowPrivilegeEscalation != false", "runAsNonRoot != true"},
		},
		{
			name: "a privileged container (the API server allows none)",
			manifest: `apiVersion: v1
kind: Pod
metadata: {name: root, namespace: daprshop}
spec: {containers: [{name: sh, image: "debian:12", securityContext: {privileged: true}}]}`,
			want: []string{"spec.containers[0].securityContext.privileged: Forbidden: disallowed by cluster policy"},
		},
		{
			name: "a Deployment whose pods restricted would refuse",
			manifest: `apiVersion: apps/v1
kind: Deployment
metadata: {name: root, namespace: daprshop}
spec:
  selector: {matchLabels: {app: root}}
  template:
    metadata: {labels: {app: root}}
    spec: {containers: [{name: sh, image: "debian:12"}]}`,
			warning: `would violate PodSecurity "restricted:latest"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := c.Kubectl(ctx, tt.manifest, "apply", "--server-side", "--dry-run=server", "-f", "-")
			if tt.warning != "" {
				require.NoError(t, err)
				assert.Contains(t, stderr, tt.warning)
				return
			}
			require.Error(t, err, "the API server accepted it")
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

// MustKubectl runs kubectl and fails the test on an error or a warning:
// an object the API server accepted with a warning (a Pod Security
// violation in a Deployment, a deprecated API) is a mistake here too.
func (c *Cluster) MustKubectl(t *testing.T, ctx context.Context, stdin string, args ...string) string {
	t.Helper()
	out, stderr, err := c.Kubectl(ctx, stdin, args...)
	require.NoError(t, err)
	require.NotContains(t, withoutSortNotice(stderr), "Warning:", "kubectl %s", strings.Join(args, " "))
	return out
}

// withoutSortNotice drops the one line kubectl's kustomize prints for an
// overlay that sets its own order (overlays/*/kustomization.yaml says why
// they do): `kubectl apply -k` always passes its default order too, and the
// kustomization's wins. It comes from the client, not the API server.
func withoutSortNotice(stderr string) string {
	var keep []string
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.Contains(l, "Warning: Sorting order is set both in 'kustomization.yaml' ('sortOptions') and in a CLI flag ('--reorder')") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// InstallDaprCRDs applies Dapr v1.18.2's CRDs (its Helm chart's crds/,
// copied by `make k8s-tools`) and waits until the API server serves them.
func InstallDaprCRDs(t *testing.T, ctx context.Context, c *Cluster) {
	t.Helper()
	dir := filepath.Join(c.bin, "dapr-crds")
	out := c.MustKubectl(t, ctx, "", "apply", "--server-side", "-f", dir)
	require.Equal(t, 7, strings.Count(out, "serverside-applied"), "the chart's seven CRDs:\n%s", out)
	c.MustKubectl(t, ctx, "", "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
}

// installTraefikCRDs installs Traefik's Middleware CRD (make k8s-tools
// copies it from the Traefik module): the API server then validates
// overlays/traefik's Middlewares against Traefik's own schema.
func installTraefikCRDs(t *testing.T, ctx context.Context, c *Cluster) {
	t.Helper()
	out := c.MustKubectl(t, ctx, "", "apply", "--server-side", "-f", filepath.Join(c.bin, "traefik-crds"))
	require.Contains(t, out, "middlewares.traefik.io serverside-applied")
	c.MustKubectl(t, ctx, "", "wait", "--for=condition=Established", "crd/middlewares.traefik.io", "--timeout=60s")
}

// PrepareNamespace does what step 3 of docs/kubernetes.md tells a user to:
// the namespace, under the restricted Pod Security Standard.
func PrepareNamespace(t *testing.T, ctx context.Context, c *Cluster) {
	t.Helper()
	c.MustKubectl(t, ctx, "", "create", "namespace", "daprshop")
	c.MustKubectl(t, ctx, "", "label", "namespace", "daprshop", "pod-security.kubernetes.io/enforce=restricted")
	if !c.controllers {
		// The service account controller makes every namespace's default
		// service account; without a controller manager (L1), it is made
		// here, or no pod is admitted at all.
		c.MustKubectl(t, ctx, "", "-n", "daprshop", "create", "serviceaccount", "default")
	}
	got := c.MustKubectl(t, ctx, "", "get", "namespace", "daprshop", "-o", "jsonpath={.metadata.labels}")
	require.Contains(t, got, fmt.Sprintf("%q:%q", "pod-security.kubernetes.io/enforce", "restricted"))
}
