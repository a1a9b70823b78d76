package check

import (
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	commonapi "github.com/dapr/dapr/pkg/apis/common"
	componentsapi "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	configurationapi "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
	resiliencyapi "github.com/dapr/dapr/pkg/apis/resiliency/v1alpha1"
	subscriptionsapi "github.com/dapr/dapr/pkg/apis/subscriptions/v2alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// want is a problem a broken manifest must produce: its check, and a part
// of its object and of its detail.
type want struct {
	check, object, detail string
}

// requireProblems asserts that every wanted problem is among the problems.
func requireProblems(t *testing.T, problems Problems, wants []want) {
	t.Helper()
	require.NotEmpty(t, problems, "the broken manifests passed every check")
	for _, w := range wants {
		found := slices.ContainsFunc(problems, func(p Problem) bool {
			return p.Check == w.check && strings.Contains(p.Object, w.object) && strings.Contains(p.Detail, w.detail)
		})
		assert.True(t, found, "want a %s problem on %q containing %q; got:\n%s", w.check, w.object, w.detail, problems)
	}
}

// renderedRedis is the redis overlay, rendered once; each case decodes its
// own copy and breaks it.
var renderedRedis = sync.OnceValues(func() ([]byte, error) {
	root, err := RepoRoot(".")
	if err != nil {
		return nil, err
	}
	return Render(filepath.Join(root, "deploy", "k8s", "overlays", "redis"))
})

func freshSet(t *testing.T) *Set {
	t.Helper()
	out, err := renderedRedis()
	require.NoError(t, err)
	set, problems := Decode(out)
	require.Empty(t, problems)
	return set
}

func named[T metav1.Object](t *testing.T, s *Set, name string) T {
	t.Helper()
	for _, o := range Of[T](s) {
		if o.GetName() == name {
			return o
		}
	}
	var zero T
	require.Failf(t, "no such object", "%T %s", zero, name)
	return zero
}

func deployment(t *testing.T, s *Set, name string) *appsv1.Deployment {
	return named[*appsv1.Deployment](t, s, name)
}

// app returns a Deployment's container "app".
func app(t *testing.T, s *Set, name string) *corev1.Container {
	t.Helper()
	d := deployment(t, s, name)
	i := slices.IndexFunc(d.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return c.Name == "app" })
	require.GreaterOrEqual(t, i, 0)
	return &d.Spec.Template.Spec.Containers[i]
}

func component(t *testing.T, s *Set, name string) *componentsapi.Component {
	return named[*componentsapi.Component](t, s, name)
}

func configuration(t *testing.T, s *Set, name string) *configurationapi.Configuration {
	return named[*configurationapi.Configuration](t, s, name)
}

func networkPolicy(t *testing.T, s *Set, name string) *networkingv1.NetworkPolicy {
	return named[*networkingv1.NetworkPolicy](t, s, name)
}

// remove deletes the object of the kind ("Deployment") and name.
func remove(t *testing.T, s *Set, kind, name string) {
	t.Helper()
	i := slices.IndexFunc(s.Objects, func(o Object) bool { return o.Ref() == kind+"/"+name })
	require.GreaterOrEqual(t, i, 0, "no %s/%s", kind, name)
	s.Objects = slices.Delete(s.Objects, i, i+1)
}

func add(s *Set, kind string, obj metav1.Object) {
	s.Objects = append(s.Objects, Object{Kind: kind, Obj: obj})
}

func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i] = corev1.EnvVar{Name: name, Value: value}
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

func deleteEnv(c *corev1.Container, name string) {
	c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
}

func deleteMetadata(c *componentsapi.Component, name string) {
	c.Spec.Metadata = slices.DeleteFunc(c.Spec.Metadata, func(m commonapi.NameValuePair) bool { return m.Name == name })
}

func setMetadata(c *componentsapi.Component, name, value string) {
	deleteMetadata(c, name)
	nv := commonapi.NameValuePair{Name: name}
	nv.SetValue([]byte(`"` + value + `"`))
	c.Spec.Metadata = append(c.Spec.Metadata, nv)
}

func ptr[T any](v T) *T { return &v }

// TestBrokenManifests breaks the rendered redis overlay one mistake at a
// time and asserts that the check meant for that mistake reports it.
func TestBrokenManifests(t *testing.T) {
	t.Parallel()
	repo := readRepo(t)
	cases := []struct {
		name     string
		break_   func(t *testing.T, s *Set)
		injector *Injector // GuideInjector when nil
		want     []want
	}{
		// Pluggable components: served where they are loaded.
		{
			name: "an app loads a pluggable component without asking for its container",
			break_: func(t *testing.T, s *Set) {
				delete(deployment(t, s, "catalog").Spec.Template.Annotations, "dapr.io/inject-pluggable-components")
			},
			want: []want{{CheckInjection, "Deployment/catalog", "loads catalog-store (state.daprshop-redis, a pluggable component) without dapr.io/inject-pluggable-components"}},
		},
		{
			name: "a pluggable component names no container",
			break_: func(t *testing.T, s *Set) {
				delete(component(t, s, "orders-store").Annotations, "dapr.io/component-container")
			},
			want: []want{{CheckComponents, "Component/orders-store", "type state.daprshop-redis is a pluggable component, and no dapr.io/component-container"}},
		},
		{
			name: "a component container writes to its root filesystem, probes nothing, has another tag",
			break_: func(t *testing.T, s *Set) {
				c := component(t, s, "payments-store")
				ann := c.Annotations["dapr.io/component-container"]
				ann = strings.Replace(ann, `"readOnlyRootFilesystem": true`, `"readOnlyRootFilesystem": false`, 1)
				ann = strings.Replace(ann, `, "livenessProbe": {"exec": {"command": ["/redisstate", "-probe"]}, "periodSeconds": 10, "timeoutSeconds": 3}`, "", 1)
				ann = strings.Replace(ann, "redisstate:0.1.0", "redisstate:0.0.9", 1)
				c.Annotations["dapr.io/component-container"] = ann
			},
			want: []want{
				{CheckSecurity, "Deployment/payments (injected) container redisstate", "readOnlyRootFilesystem is not true"},
				{CheckProbes, "Deployment/payments (injected) container redisstate", "no liveness probe"},
				{CheckImages, "Component/payments-store", "has tag 0.0.9, the apps' images 0.1.0"},
			},
		},
		{
			name: "a component container that is no container",
			break_: func(t *testing.T, s *Set) {
				component(t, s, "users-store").Annotations["dapr.io/component-container"] = `{"name": "redisstate", "imag": "x"}`
			},
			want: []want{{CheckComponents, "Component/users-store", "dapr.io/component-container is not a container"}},
		},
		// App ids and ports against the run file and the services.
		{
			name: "app id not in the run file",
			break_: func(t *testing.T, s *Set) {
				deployment(t, s, "gateway").Spec.Template.Annotations["dapr.io/app-id"] = "gateway-v2"
			},
			want: []want{
				{CheckAppID, "Deployment/gateway", `app id "gateway-v2" is not an app of dapr/dapr.yaml`},
				{CheckApps, "gateway", "no Deployment has dapr.io/app-id: gateway"},
			},
		},
		{
			name: "two Deployments claim one app id",
			break_: func(t *testing.T, s *Set) {
				deployment(t, s, "notifications").Spec.Template.Annotations["dapr.io/app-id"] = "payments"
			},
			want: []want{{CheckAppID, "Deployment/", `app id "payments" is also`}},
		},
		{
			name:   "an app of the run file has no Deployment",
			break_: func(t *testing.T, s *Set) { remove(t, s, "Deployment", "notifications") },
			want:   []want{{CheckApps, "notifications", "no Deployment has dapr.io/app-id: notifications"}},
		},
		{
			name:   "a component in another namespace than the apps",
			break_: func(t *testing.T, s *Set) { component(t, s, "pubsub").Namespace = "dapr-system" },
			want:   []want{{CheckApps, "Component/pubsub", `is in namespace "dapr-system", the apps in "daprshop"`}},
		},
		{
			name: "app port differs from the run file",
			break_: func(t *testing.T, s *Set) {
				deployment(t, s, "users").Spec.Template.Annotations["dapr.io/app-port"] = "9081"
			},
			want: []want{{CheckAppPort, "Deployment/users", `dapr.io/app-port is "9081"; dapr/dapr.yaml runs users on 8081`}},
		},
		{
			name: "the container does not listen on the app port",
			break_: func(t *testing.T, s *Set) {
				c := app(t, s, "catalog")
				c.Ports[0].ContainerPort = 8090
				setEnv(c, "APP_PORT", "8090")
			},
			want: []want{
				{CheckAppPort, "Deployment/catalog", "declares no port 8082"},
				{CheckAppPort, "Deployment/catalog", "APP_PORT=8090; the app's port is 8082"},
			},
		},
		{
			name: "an annotation the injector cannot parse",
			break_: func(t *testing.T, s *Set) {
				deployment(t, s, "orders").Spec.Template.Annotations["dapr.io/app-port"] = "80x"
			},
			want: []want{
				{CheckInjection, "Deployment/orders", "dapr.io/app-port"},
				{CheckAppPort, "Deployment/orders", `dapr.io/app-port is "80x"`},
			},
		},

		// The other Dapr annotations.
		{
			name: "a misspelt Dapr annotation",
			break_: func(t *testing.T, s *Set) {
				deployment(t, s, "users").Spec.Template.Annotations["dapr.io/app-health-path"] = "/healthz"
			},
			want: []want{{CheckDapr, "Deployment/users", "annotation dapr.io/app-health-path is not one the Dapr 1.18.2 injector reads"}},
		},
		{
			name: "app health probes unlike the run file's",
			break_: func(t *testing.T, s *Set) {
				deployment(t, s, "payments").Spec.Template.Annotations["dapr.io/app-health-probe-interval"] = "5"
			},
			want: []want{{CheckDapr, "Deployment/payments", "dapr.io/app-health-probe-interval is 5, the run file's 2"}},
		},
		{
			name: "no Dapr sidecar",
			break_: func(t *testing.T, s *Set) {
				delete(deployment(t, s, "payments").Spec.Template.Annotations, "dapr.io/enabled")
			},
			want: []want{{CheckDapr, "Deployment/payments", `no dapr.io/enabled: "true"`}},
		},
		{
			name:   "the Configuration the app names is missing",
			break_: func(t *testing.T, s *Set) { remove(t, s, "Configuration", "catalog") },
			want:   []want{{CheckDapr, "Deployment/catalog", `dapr.io/config names Configuration "catalog", which the overlay does not hold`}},
		},

		// Graceful shutdown.
		{
			name: "grace period shorter than the sidecar's drain",
			break_: func(t *testing.T, s *Set) {
				deployment(t, s, "orders").Spec.Template.Spec.TerminationGracePeriodSeconds = ptr[int64](20)
			},
			want: []want{{CheckShutdown, "Deployment/orders", "terminationGracePeriodSeconds (20s) must exceed"}},
		},
		{
			name: "no graceful shutdown for the sidecar",
			break_: func(t *testing.T, s *Set) {
				delete(deployment(t, s, "orders").Spec.Template.Annotations, "dapr.io/graceful-shutdown-seconds")
			},
			want: []want{{CheckShutdown, "Deployment/orders", "no dapr.io/graceful-shutdown-seconds"}},
		},

		// Tokens.
		{
			name: "app and sidecar read different token secrets",
			break_: func(t *testing.T, s *Set) {
				c := app(t, s, "orders")
				for i := range c.Env {
					if c.Env[i].Name == "DAPR_API_TOKEN" {
						c.Env[i].ValueFrom.SecretKeyRef.Name = "users-dapr-api-token"
					}
				}
			},
			want: []want{{CheckTokens, "Deployment/orders", "reads DAPR_API_TOKEN from users-dapr-api-token/token; its sidecar from orders-dapr-api-token/token"}},
		},
		{
			name: "no app token for an app that checks one",
			break_: func(t *testing.T, s *Set) {
				delete(deployment(t, s, "users").Spec.Template.Annotations, "dapr.io/app-token-secret")
			},
			want: []want{{CheckTokens, "Deployment/users", "no dapr.io/app-token-secret"}},
		},

		// The environment of the run file.
		{
			name:   "a variable of the run file is missing",
			break_: func(t *testing.T, s *Set) { deleteEnv(app(t, s, "orders"), "CATALOG_APP_ID") },
			want:   []want{{CheckEnv, "Deployment/orders", "gives orders CATALOG_APP_ID=catalog, and its container does not set CATALOG_APP_ID"}},
		},
		{
			name:   "the app listens on loopback only",
			break_: func(t *testing.T, s *Set) { setEnv(app(t, s, "users"), "APP_HOST", "127.0.0.1") },
			want:   []want{{CheckEnv, "Deployment/users", "APP_HOST=127.0.0.1"}},
		},
		{
			name: "the app traces elsewhere than its sidecar",
			break_: func(t *testing.T, s *Set) {
				setEnv(app(t, s, "payments"), "OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger.tracing.svc:4318")
			},
			want: []want{{CheckEnv, "Deployment/payments", "the app sends its spans to jaeger.tracing.svc:4318, its sidecar to otel-collector.observability.svc:4318"}},
		},
		{
			name: "the admin port is not the port named metrics",
			break_: func(t *testing.T, s *Set) {
				setEnv(app(t, s, "catalog"), "ADMIN_PORT", "9999")
			},
			want: []want{{CheckEnv, "Deployment/catalog", "ADMIN_PORT=9999"}},
		},

		// Components.
		{
			name:   "a local component is missing",
			break_: func(t *testing.T, s *Set) { remove(t, s, "Component", "users-store") },
			want:   []want{{CheckComponents, "Component/users-store", "components/local has users-store (state.sqlite); the overlay has no component of that name"}},
		},
		{
			name:   "a component renamed",
			break_: func(t *testing.T, s *Set) { component(t, s, "pubsub").Name = "daprshop-pubsub" },
			want: []want{
				{CheckComponents, "Component/pubsub", "the overlay has no component of that name"},
				{CheckComponents, "Component/daprshop-pubsub", "is not a component of components/local"},
			},
		},
		{
			name: "a store scoped to another app too",
			break_: func(t *testing.T, s *Set) {
				c := component(t, s, "orders-store")
				c.Scopes = append(c.Scopes, "catalog")
			},
			want: []want{{CheckComponents, "Component/orders-store", "scopes [orders catalog] here, [orders] locally"}},
		},
		{
			name:   "the workflow store is no actor state store",
			break_: func(t *testing.T, s *Set) { deleteMetadata(component(t, s, "orders-workflows"), "actorStateStore") },
			want:   []want{{CheckComponents, "Component/orders-workflows", `metadata actorStateStore is "" here, "true" locally`}},
		},
		{
			name:   "a pubsub without topic scopes",
			break_: func(t *testing.T, s *Set) { deleteMetadata(component(t, s, "pubsub"), "publishingScopes") },
			want:   []want{{CheckComponents, "Component/pubsub", `metadata publishingScopes is "" here; want "users=user.registered,daprshopusersuser.registeredoutbox;`}},
		},
		{
			name:   "the outbox lost",
			break_: func(t *testing.T, s *Set) { deleteMetadata(component(t, s, "users-store"), "outboxPublishTopic") },
			want:   []want{{CheckComponents, "Component/users-store", `metadata outboxPublishTopic is "" here, "user.registered" locally`}},
		},
		{
			name:   "a store of another building block",
			break_: func(t *testing.T, s *Set) { component(t, s, "payments-store").Spec.Type = "pubsub.redis" },
			want:   []want{{CheckComponents, "Component/payments-store", "is a pubsub here (pubsub.redis), a state locally"}},
		},
		{
			name:   "a store that keeps its data on one node",
			break_: func(t *testing.T, s *Set) { component(t, s, "catalog-store").Spec.Type = "state.sqlite" },
			want:   []want{{CheckComponents, "Component/catalog-store", "type state.sqlite keeps its data on one node"}},
		},

		// Images.
		{
			name:   "an image on latest",
			break_: func(t *testing.T, s *Set) { app(t, s, "gateway").Image = "ghcr.io/daprshop/gateway:latest" },
			want:   []want{{CheckImages, "Deployment/gateway container app", "uses latest"}},
		},
		{
			name:   "an untagged image",
			break_: func(t *testing.T, s *Set) { app(t, s, "gateway").Image = "localhost:5000/daprshop/gateway" },
			want:   []want{{CheckImages, "Deployment/gateway container app", "has no tag (so it is latest)"}},
		},

		// Probes.
		{
			name:   "no readiness probe",
			break_: func(t *testing.T, s *Set) { app(t, s, "notifications").ReadinessProbe = nil },
			want:   []want{{CheckProbes, "Deployment/notifications container app", "no readiness probe"}},
		},
		{
			name:   "no liveness probe",
			break_: func(t *testing.T, s *Set) { app(t, s, "notifications").LivenessProbe = nil },
			want:   []want{{CheckProbes, "Deployment/notifications container app", "no liveness probe"}},
		},
		{
			name: "a probe on a port the container does not declare",
			break_: func(t *testing.T, s *Set) {
				app(t, s, "users").LivenessProbe.HTTPGet.Port = intstr.FromString("web")
			},
			want: []want{{CheckProbes, "Deployment/users container app", `names port "web"`}},
		},

		// Requests and limits.
		{
			name:   "no memory limit",
			break_: func(t *testing.T, s *Set) { delete(app(t, s, "orders").Resources.Limits, corev1.ResourceMemory) },
			want:   []want{{CheckResources, "Deployment/orders container app", "no memory limit"}},
		},
		{
			name: "a request above its limit",
			break_: func(t *testing.T, s *Set) {
				app(t, s, "orders").Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2")
			},
			want: []want{{CheckResources, "Deployment/orders container app", "cpu request 2 exceeds its limit 1"}},
		},
		{
			name: "a sidecar without limits",
			break_: func(t *testing.T, s *Set) {
				delete(deployment(t, s, "orders").Spec.Template.Annotations, "dapr.io/sidecar-memory-limit")
			},
			want: []want{{CheckResources, "Deployment/orders (injected) container daprd", "no memory limit"}},
		},

		// Security contexts.
		{
			name: "a writable root filesystem",
			break_: func(t *testing.T, s *Set) {
				app(t, s, "gateway").SecurityContext.ReadOnlyRootFilesystem = ptr(false)
			},
			want: []want{{CheckSecurity, "Deployment/gateway container app", "readOnlyRootFilesystem is not true"}},
		},
		{
			name: "root",
			break_: func(t *testing.T, s *Set) {
				d := deployment(t, s, "gateway")
				d.Spec.Template.Spec.SecurityContext.RunAsUser = ptr[int64](0)
				d.Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil
				app(t, s, "gateway").SecurityContext.RunAsNonRoot = nil
			},
			want: []want{
				{CheckSecurity, "Deployment/gateway container app", "runs as user 0 (root)"},
				{CheckSecurity, "Deployment/gateway container app", "runAsNonRoot is not true"},
				{CheckSecurity, "Deployment/gateway (injected) container daprd", "runs as user 0 (root)"},
			},
		},
		{
			name: "capabilities kept",
			break_: func(t *testing.T, s *Set) {
				app(t, s, "payments").SecurityContext.Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}
			},
			want: []want{
				{CheckSecurity, "Deployment/payments container app", "does not drop ALL capabilities"},
				{CheckSecurity, "Deployment/payments container app", "adds capabilities [NET_ADMIN]"},
			},
		},
		{
			name: "privilege escalation",
			break_: func(t *testing.T, s *Set) {
				app(t, s, "payments").SecurityContext.AllowPrivilegeEscalation = nil
			},
			want: []want{{CheckSecurity, "Deployment/payments container app", "allowPrivilegeEscalation is not false"}},
		},
		{
			name: "no seccomp profile",
			break_: func(t *testing.T, s *Set) {
				d := deployment(t, s, "users")
				d.Spec.Template.Spec.SecurityContext.SeccompProfile = nil
				delete(d.Spec.Template.Annotations, "dapr.io/sidecar-seccomp-profile-type")
			},
			want: []want{
				{CheckSecurity, "Deployment/users container app", "no RuntimeDefault (or Localhost) seccomp profile"},
				{CheckSecurity, "Deployment/users (injected) container daprd", "no RuntimeDefault (or Localhost) seccomp profile"},
			},
		},
		{
			// The chart's default: the guide installs Dapr with
			// sidecarDropALLCapabilities=true because of this.
			name:     "a control plane that leaves the sidecar its capabilities",
			break_:   func(t *testing.T, s *Set) {},
			injector: &Injector{SidecarImage: GuideInjector.SidecarImage, ControlPlane: "dapr-system", TrustDomain: "cluster.local", RunAsNonRoot: true, ReadOnlyRootFS: true},
			want:     []want{{CheckSecurity, "Deployment/gateway (injected) container daprd", "does not drop ALL capabilities"}},
		},

		// Secrets.
		{
			name: "a password inline in a component",
			break_: func(t *testing.T, s *Set) {
				c := component(t, s, "pubsub")
				deleteMetadata(c, "redisPassword")
				setMetadata(c, "redisPassword", "hunter2")
			},
			want: []want{{CheckSecrets, "Component/pubsub", "metadata redisPassword holds its value inline: use secretKeyRef"}},
		},
		{
			name: "a password inside a URL",
			break_: func(t *testing.T, s *Set) {
				setMetadata(component(t, s, "users-store"), "redisHost", "redis://default:hunter2@redis:6379")
			},
			want: []want{{CheckSecrets, "Component/users-store", "metadata redisHost carries a password inline"}},
		},
		{
			name: "a Secret with its data in the manifests",
			break_: func(t *testing.T, s *Set) {
				add(s, "v1/Secret", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: "daprshop"}, StringData: map[string]string{"password": "hunter2"}})
			},
			want: []want{{CheckSecrets, "Secret/redis", "a Secret with its data in the manifests"}},
		},
		{
			name:   "a token inline in the environment",
			break_: func(t *testing.T, s *Set) { setEnv(app(t, s, "gateway"), "DAPR_API_TOKEN", "s3cr3t") },
			want: []want{
				{CheckSecrets, "Deployment/gateway container app", "DAPR_API_TOKEN holds its value inline"},
				{CheckTokens, "Deployment/gateway", "does not read DAPR_API_TOKEN from Secret gateway-dapr-api-token"},
			},
		},

		// Configurations.
		{
			name: "an access-control rule unlike the local one",
			break_: func(t *testing.T, s *Set) {
				ops := configuration(t, s, "payments").Spec.AccessControlSpec.AppPolicies[1].AppOperationActions
				ops[0], ops[1] = ops[1], ops[0] // the order matters in Dapr 1.18.2
			},
			want: []want{{CheckConfiguration, "Configuration/payments", "policy 2 is {app orders"}},
		},
		{
			name: "a caller more than locally",
			break_: func(t *testing.T, s *Set) {
				ac := configuration(t, s, "orders").Spec.AccessControlSpec
				ac.AppPolicies = append(ac.AppPolicies, configurationapi.AppPolicySpec{AppName: "catalog", TrustDomain: "public", Namespace: "daprshop", DefaultAction: "allow"})
			},
			want: []want{{CheckConfiguration, "Configuration/orders", "2 access-control policies, 1 in dapr/config/orders.yaml"}},
		},
		{
			name: "access control allows by default",
			break_: func(t *testing.T, s *Set) {
				configuration(t, s, "users").Spec.AccessControlSpec.DefaultAction = "allow"
			},
			want: []want{{CheckConfiguration, "Configuration/users", `accessControl.defaultAction is "allow", not deny`}},
		},
		{
			name: "policies for another namespace",
			break_: func(t *testing.T, s *Set) {
				configuration(t, s, "catalog").Spec.AccessControlSpec.AppPolicies[0].Namespace = "default"
			},
			want: []want{{CheckConfiguration, "Configuration/catalog", `policy 1 (gateway) names namespace "default"; the apps run in "daprshop"`}},
		},
		{
			name:   "mTLS off",
			break_: func(t *testing.T, s *Set) { configuration(t, s, "gateway").Spec.MTLSSpec.Enabled = ptr(false) },
			want:   []want{{CheckConfiguration, "Configuration/gateway", "mtls.enabled is not true"}},
		},
		{
			name: "a pluggable component rendered after the Deployments",
			break_: func(t *testing.T, s *Set) {
				i := slices.IndexFunc(s.Objects, func(o Object) bool { return o.Ref() == "Component/orders-store" })
				require.GreaterOrEqual(t, i, 0)
				o := s.Objects[i]
				s.Objects = append(slices.Delete(s.Objects, i, i+1), o)
			},
			want: []want{{CheckInjection, "Component/orders-store", "comes after Deployment/"}},
		},
		{
			name:   "mTLS without the fields the CRD requires",
			break_: func(t *testing.T, s *Set) { configuration(t, s, "users").Spec.MTLSSpec.SentryAddress = "" },
			want:   []want{{CheckConfiguration, "Configuration/users", "mtls lacks controlPlaneTrustDomain or sentryAddress"}},
		},
		{
			name: "tracing to the pod's loopback",
			break_: func(t *testing.T, s *Set) {
				configuration(t, s, "notifications").Spec.TracingSpec.Otel.EndpointAddress = "127.0.0.1:4318"
			},
			want: []want{{CheckConfiguration, "Configuration/notifications", "is the pod's own loopback"}},
		},

		// Subscriptions and resiliency.
		{
			name: "a subscription without its dead-letter topic",
			break_: func(t *testing.T, s *Set) {
				named[*subscriptionsapi.Subscription](t, s, "payments-user-registered").Spec.DeadLetterTopic = ""
			},
			want: []want{{CheckSubscriptions, "Subscription/payments-user-registered", "differs from dapr/resources"}},
		},
		{
			name:   "a subscription missing",
			break_: func(t *testing.T, s *Set) { remove(t, s, "Subscription", "notifications-order-cancelled") },
			want:   []want{{CheckSubscriptions, "Subscription/notifications-order-cancelled", "the overlay does not"}},
		},
		{
			name: "fewer retries than locally",
			break_: func(t *testing.T, s *Set) {
				r := named[*resiliencyapi.Resiliency](t, s, "daprshop").Spec.Policies.Retries["pubsubInbound"]
				r.MaxRetries = ptr(2)
				named[*resiliencyapi.Resiliency](t, s, "daprshop").Spec.Policies.Retries["pubsubInbound"] = r
			},
			want: []want{{CheckResiliency, "Resiliency/daprshop", "differs from dapr/resources"}},
		},

		// Availability.
		{
			name:   "no PodDisruptionBudget",
			break_: func(t *testing.T, s *Set) { remove(t, s, "PodDisruptionBudget", "users") },
			want:   []want{{CheckAvailability, "Deployment/users", "no PodDisruptionBudget selects its pods"}},
		},
		{
			name: "a PodDisruptionBudget that blocks every drain",
			break_: func(t *testing.T, s *Set) {
				named[*policyv1.PodDisruptionBudget](t, s, "catalog").Spec.MinAvailable = ptr(intstr.FromInt32(2))
			},
			want: []want{{CheckAvailability, "PodDisruptionBudget/catalog", "lets no pod of Deployment/catalog be evicted at 2 replicas"}},
		},
		{
			name:   "a stateless app without an autoscaler",
			break_: func(t *testing.T, s *Set) { remove(t, s, "HorizontalPodAutoscaler", "payments") },
			want:   []want{{CheckAvailability, "Deployment/payments", "no HorizontalPodAutoscaler"}},
		},
		{
			name:   "replicas fighting the autoscaler",
			break_: func(t *testing.T, s *Set) { deployment(t, s, "gateway").Spec.Replicas = ptr[int32](3) },
			want:   []want{{CheckAvailability, "Deployment/gateway", "sets replicas and has an autoscaler"}},
		},
		{
			name: "an autoscaler on the workflow host",
			break_: func(t *testing.T, s *Set) {
				h := named[*autoscalingv2.HorizontalPodAutoscaler](t, s, "users").DeepCopy()
				h.Name, h.Spec.ScaleTargetRef.Name = "orders", "orders"
				add(s, "autoscaling/v2/HorizontalPodAutoscaler", h)
			},
			want: []want{{CheckAvailability, "Deployment/orders", "has an autoscaler, and must not: it hosts the checkout workflows"}},
		},
		{
			name:   "a single replica",
			break_: func(t *testing.T, s *Set) { deployment(t, s, "catalog").Spec.Replicas = ptr[int32](1) },
			want:   []want{{CheckAvailability, "Deployment/catalog", "runs 1 replica at times"}},
		},

		// The network.
		{
			name:   "no default deny",
			break_: func(t *testing.T, s *Set) { remove(t, s, "NetworkPolicy", "default-deny-ingress") },
			want:   []want{{CheckNetwork, "overlay", "no default-deny ingress NetworkPolicy"}},
		},
		{
			name: "the gateway on a load balancer",
			break_: func(t *testing.T, s *Set) {
				named[*corev1.Service](t, s, "gateway").Spec.Type = corev1.ServiceTypeLoadBalancer
			},
			want: []want{{CheckNetwork, "Service/gateway", "type LoadBalancer exposes it outside the cluster"}},
		},
		{
			name: "an Ingress to another app",
			break_: func(t *testing.T, s *Set) {
				add(s, "v1/Service", &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: "users", Namespace: "daprshop"},
					Spec:       corev1.ServiceSpec{Selector: map[string]string{"app.kubernetes.io/name": "users"}, Ports: []corev1.ServicePort{{Port: 80}}},
				})
				ing := named[*networkingv1.Ingress](t, s, "gateway")
				paths := &ing.Spec.Rules[0].HTTP.Paths
				*paths = append(*paths, networkingv1.HTTPIngressPath{
					Path: "/users", PathType: ptr(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "users", Port: networkingv1.ServiceBackendPort{Number: 80}}},
				})
			},
			want: []want{{CheckNetwork, "Ingress/gateway", "routes to Service users, which does not select the gateway's pods"}},
		},
		{
			name: "an app's sidecar open to other namespaces",
			break_: func(t *testing.T, s *Set) {
				np := networkPolicy(t, s, "users-invocations")
				np.Spec.Ingress[0].From = append(np.Spec.Ingress[0].From, networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{}})
			},
			want: []want{{CheckNetwork, "NetworkPolicy/users-invocations", "lets pods outside the namespace reach Deployment/users"}},
		},
		{
			name: "a caller access control does not allow",
			break_: func(t *testing.T, s *Set) {
				np := networkPolicy(t, s, "catalog-invocations")
				np.Spec.Ingress[0].From = append(np.Spec.Ingress[0].From, networkingv1.NetworkPolicyPeer{
					PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "notifications"}},
				})
			},
			want: []want{{CheckNetwork, "Deployment/catalog", "NetworkPolicies let [catalog gateway notifications orders] reach its sidecar's internal port; access control lets [catalog gateway orders] invoke it"}},
		},
		{
			name: "a caller access control allows, cut off",
			break_: func(t *testing.T, s *Set) {
				np := networkPolicy(t, s, "payments-invocations")
				np.Spec.Ingress[0].From = slices.DeleteFunc(np.Spec.Ingress[0].From, func(p networkingv1.NetworkPolicyPeer) bool {
					return p.PodSelector.MatchLabels["app.kubernetes.io/name"] == "orders"
				})
			},
			want: []want{{CheckNetwork, "Deployment/payments", "NetworkPolicies let [gateway payments] reach its sidecar's internal port; access control lets [gateway orders payments]"}},
		},
		{
			name: "the workflow host's replicas cut off from each other",
			break_: func(t *testing.T, s *Set) {
				np := networkPolicy(t, s, "orders-invocations")
				np.Spec.Ingress[0].From = np.Spec.Ingress[0].From[:1]
			},
			want: []want{{CheckNetwork, "Deployment/orders", "(and its replicas host actors)"}},
		},
		{
			name: "a policy port that no container has",
			break_: func(t *testing.T, s *Set) {
				networkPolicy(t, s, "notifications-invocations").Spec.Ingress[0].Ports[0].Port = ptr(intstr.FromString("dapr-internl"))
			},
			want: []want{{CheckNetwork, "NetworkPolicy/notifications-invocations", `names port "dapr-internl", which no container of Deployment/notifications has`}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			set := freshSet(t)
			tc.break_(t, set)
			inj := GuideInjector
			if tc.injector != nil {
				inj = *tc.injector
			}
			requireProblems(t, CheckSystem(set, repo, inj), tc.want)
		})
	}
}

// TestBrokenOverlays renders the small broken overlays of testdata/, each
// the redis overlay plus one mistake written the way a user would write it,
// and asserts the check meant for it reports it.
func TestBrokenOverlays(t *testing.T) {
	t.Parallel()
	repo := readRepo(t)
	cases := []struct {
		dir  string
		want []want
	}{
		{"unknown-field-in-deployment", []want{{CheckDecode, "Deployment/gateway", `unknown field "spec.template.spec.containers[0].livenessprobe"`}}},
		{"unknown-field-in-component", []want{{CheckDecode, "Component/pubsub", `unknown field "spec.metadatas"`}}},
		{"unknown-field-in-configuration", []want{{CheckDecode, "Configuration/orders", `unknown field "spec.accesscontrol"`}}},
		{"unknown-kind", []want{{CheckDecode, "HTTPEndpoint/payments-provider", "kind dapr.io/v1alpha1/HTTPEndpoint is not one this check knows"}}},
		{"latest-image", []want{{CheckImages, "Deployment/gateway container app", "image ghcr.io/daprshop/gateway:latest uses latest"}}},
		{"secret-generator", []want{{CheckSecrets, "Secret/redis", "a Secret with its data in the manifests"}}},
		{"no-pubsub", []want{{CheckComponents, "Component/pubsub", "components/local has pubsub (pubsub.jetstream); the overlay has no component of that name"}}},
		{"other-namespace", []want{{CheckConfiguration, "Configuration/users", `policy 1 (gateway) names namespace "daprshop"; the apps run in "shop"`}}},
		{"no-probes", []want{{CheckProbes, "Deployment/payments container app", "no readiness probe"}, {CheckProbes, "Deployment/payments container app", "no liveness probe"}}},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			t.Parallel()
			out, err := Render(filepath.Join("testdata", tc.dir))
			require.NoError(t, err)
			set, problems := Decode(out)
			problems = append(problems, CheckSystem(set, repo, GuideInjector)...)
			requireProblems(t, problems, tc.want)
		})
	}
}
