package check

import (
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dapr/dapr/pkg/injector/patcher"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// PublicApp is the one app reachable from outside the cluster (DESIGN: the
// gateway holds the only public port).
const PublicApp = "gateway"

// FixedReplicas are the apps that run a fixed number of replicas instead of
// an autoscaler, and why; every other app is stateless and must autoscale.
var FixedReplicas = map[string]string{
	"orders":  "it hosts the checkout workflows (actors): every change of the replica count moves them",
	"catalog": "every replica seeds the catalog and sweeps expired reservations",
}

// AppPod is one app of the system as deployed: its Deployment, what the
// sidecar injector makes of it, and the run file's app it claims to be.
type AppPod struct {
	Ref        string
	Deployment *appsv1.Deployment
	App        *App                   // nil when its app id is not in the run file
	Sidecar    *patcher.SidecarConfig // the dapr.io annotations as the injector reads them
	Injected   *corev1.Pod            // nil when the injector refused the pod
	Container  *corev1.Container      // the app's container (in the template)
}

// System is an overlay's objects with the apps found in them.
type System struct {
	*Set
	Repo      *Repo
	Injector  Injector
	Namespace string
	Apps      []*AppPod
}

// CheckSystem runs every check on the rendered overlay of the whole system.
func CheckSystem(set *Set, repo *Repo, inj Injector) Problems {
	sys, ps := newSystem(set, repo, inj)
	ps = append(ps, CheckWorkloads(set)...)
	for _, a := range sys.Apps {
		ps = append(ps, sys.checkApp(a)...)
	}
	ps = append(ps, sys.checkComponents()...)
	ps = append(ps, sys.checkPluggable()...)
	ps = append(ps, checkOrder(set)...)
	ps = append(ps, sys.checkConfigurations()...)
	ps = append(ps, sys.checkSubscriptions()...)
	ps = append(ps, sys.checkResiliency()...)
	ps = append(ps, sys.checkAvailability()...)
	ps = append(ps, sys.checkNetwork()...)
	ps = append(ps, sys.checkEdge()...)
	return ps
}

// newSystem pairs Deployments with the run file's apps by Dapr app id, and
// runs the injector on each.
func newSystem(set *Set, repo *Repo, inj Injector) (*System, Problems) {
	inj.Components = componentsOf(set)
	sys := &System{Set: set, Repo: repo, Injector: inj}
	var ps Problems
	seen := map[string]string{}
	namespaces := map[string]bool{}
	for _, d := range Of[*appsv1.Deployment](set) {
		ref := "Deployment/" + d.Name
		namespaces[d.Namespace] = true
		a := &AppPod{Ref: ref, Deployment: d}
		sys.Apps = append(sys.Apps, a)
		if d.Spec.Template.Annotations["dapr.io/enabled"] != "true" {
			ps = append(ps, problem(CheckDapr, ref, "no dapr.io/enabled: \"true\": every Deployment of the system is an app with its sidecar"))
		}
		pod, sidecar, warnings, err := inj.Inject(d.Namespace, d.Spec.Template)
		a.Sidecar, a.Injected = sidecar, pod
		for _, w := range warnings {
			ps = append(ps, problem(CheckInjection, ref, "the injector warns: %s", w))
		}
		if err != nil {
			ps = append(ps, problem(CheckInjection, ref, "the injector refuses the pod: %v", err))
		}
		id := d.Spec.Template.Annotations["dapr.io/app-id"]
		switch {
		case id == "":
			ps = append(ps, problem(CheckAppID, ref, "no dapr.io/app-id (the injector would name the app after the pod)"))
		case repo.App(id) == nil:
			ps = append(ps, problem(CheckAppID, ref, "app id %q is not an app of dapr/dapr.yaml (%s)", id, strings.Join(repo.appIDs(), ", ")))
		case seen[id] != "":
			ps = append(ps, problem(CheckAppID, ref, "app id %q is also %s's", id, seen[id]))
		default:
			seen[id] = ref
			a.App = repo.App(id)
		}
		a.Container = appContainer(d, sidecar)
	}
	for _, app := range repo.Apps {
		if seen[app.AppID] == "" {
			ps = append(ps, problem(CheckApps, app.AppID, "dapr/dapr.yaml runs app %s, and no Deployment has dapr.io/app-id: %s", app.AppID, app.AppID))
		}
	}
	switch len(namespaces) {
	case 0:
		ps = append(ps, problem(CheckApps, "overlay", "no Deployment at all"))
	case 1:
		for ns := range namespaces {
			sys.Namespace = ns
		}
		if sys.Namespace == "" {
			ps = append(ps, problem(CheckApps, "overlay", "the Deployments have no namespace: access-control policies name one, so the kustomization must set it"))
		}
	default:
		ps = append(ps, problem(CheckApps, "overlay", "the Deployments are in several namespaces %v: access-control policies name one", keys(namespaces)))
	}
	if sys.Namespace != "" {
		for _, o := range set.Objects {
			if _, ok := o.Obj.(*corev1.Namespace); !ok && o.Obj.GetNamespace() != sys.Namespace {
				ps = append(ps, problem(CheckApps, o.Ref(), "is in namespace %q, the apps in %q: a sidecar loads its components and Configuration from its own namespace", o.Obj.GetNamespace(), sys.Namespace))
			}
		}
	}
	return sys, ps
}

// appContainer returns the container that declares the app port, else the
// first one.
func appContainer(d *appsv1.Deployment, sidecar *patcher.SidecarConfig) *corev1.Container {
	cs := d.Spec.Template.Spec.Containers
	if len(cs) == 0 {
		return &corev1.Container{}
	}
	for i, c := range cs {
		for _, p := range c.Ports {
			if sidecar != nil && p.ContainerPort == sidecar.AppPort {
				return &cs[i]
			}
		}
	}
	return &cs[0]
}

func (r *Repo) appIDs() []string {
	ids := make([]string, len(r.Apps))
	for i, a := range r.Apps {
		ids[i] = a.AppID
	}
	return ids
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// checkApp checks one app's Deployment against the run file and its
// service: port, Dapr annotations, shutdown, tokens, environment, and the
// sidecar the injector adds.
func (sys *System) checkApp(a *AppPod) Problems {
	if a.App == nil || a.Sidecar == nil {
		return nil
	}
	var ps Problems
	add := func(check, format string, args ...any) { ps = append(ps, problem(check, a.Ref, format, args...)) }
	run := sys.Repo.Run.Effective(a.App.RunApp)
	sc := a.Sidecar
	ann := a.Deployment.Spec.Template.Annotations

	// The port: the run file's, the service's own default, the annotation,
	// the container's.
	if int(sc.AppPort) != a.App.AppPort {
		add(CheckAppPort, "dapr.io/app-port is %q; dapr/dapr.yaml runs %s on %d", ann["dapr.io/app-port"], a.App.AppID, a.App.AppPort)
	}
	if a.App.DefaultPort != a.App.AppPort {
		add(CheckAppPort, "services/%s/main.go listens on %d by default, dapr/dapr.yaml on %d", a.App.AppID, a.App.DefaultPort, a.App.AppPort)
	}
	if !slices.ContainsFunc(a.Container.Ports, func(p corev1.ContainerPort) bool { return int(p.ContainerPort) == a.App.AppPort }) {
		add(CheckAppPort, "container %s declares no port %d, the app's", a.Container.Name, a.App.AppPort)
	}

	// The other annotations: known to the injector, and the run file's
	// protocol and app-health settings.
	for k := range ann {
		if strings.HasPrefix(k, "dapr.io/") && !KnownAnnotations[k] {
			add(CheckDapr, "annotation %s is not one the Dapr 1.18.2 injector reads", k)
		}
	}
	if sc.AppProtocol != run.AppProtocol {
		add(CheckDapr, "dapr.io/app-protocol is %q, the run file's %q", sc.AppProtocol, run.AppProtocol)
	}
	if want := run.EnableAppHealthCheck != nil && *run.EnableAppHealthCheck; sc.EnableAppHealthCheck != want {
		add(CheckDapr, "dapr.io/enable-app-health-check is %v, the run file's %v", sc.EnableAppHealthCheck, want)
	}
	if sc.EnableAppHealthCheck {
		if sc.AppHealthCheckPath != run.AppHealthCheckPath {
			add(CheckDapr, "dapr.io/app-health-check-path is %q, the run file's %q", sc.AppHealthCheckPath, run.AppHealthCheckPath)
		}
		for _, h := range []struct {
			key       string
			got, want int
		}{
			{"app-health-probe-interval", int(sc.AppHealthProbeInterval), run.AppHealthProbeInterval},
			{"app-health-probe-timeout", int(sc.AppHealthProbeTimeout), run.AppHealthProbeTimeout},
			{"app-health-threshold", int(sc.AppHealthThreshold), run.AppHealthThreshold},
		} {
			if h.want != 0 && h.got != h.want {
				add(CheckDapr, "dapr.io/%s is %d, the run file's %d", h.key, h.got, h.want)
			}
		}
	}
	if sc.Config == "" {
		add(CheckDapr, "no dapr.io/config: the sidecar would run without the app's Configuration (no access control)")
	} else if sys.configuration(sc.Config) == nil {
		add(CheckDapr, "dapr.io/config names Configuration %q, which the overlay does not hold", sc.Config)
	}

	ps = append(ps, sys.checkShutdown(a)...)
	ps = append(ps, sys.checkTokens(a)...)
	ps = append(ps, sys.checkEnv(a, run)...)
	if a.Injected != nil {
		// The sidecar as the injector adds it must pass what every container
		// passes: its probes come from the injector, its resources from the
		// sidecar-* annotations, its security context from both. So must the
		// pluggable components' containers it adds (checkPluggable).
		ps = append(ps, checkPod(a.Ref+" (injected)", a.Injected.Spec, injectedContainers(a.Deployment.Spec.Template.Spec, a.Injected.Spec))...)
	}
	return ps
}

// checkShutdown wants a drain of the sidecar that ends before the kubelet
// kills the pod: terminationGracePeriodSeconds above the sidecar's block
// and graceful-shutdown time plus the app's preStop sleep.
func (sys *System) checkShutdown(a *AppPod) Problems {
	var ps Problems
	add := func(format string, args ...any) { ps = append(ps, problem(CheckShutdown, a.Ref, format, args...)) }
	sc := a.Sidecar
	if sc.GracefulShutdownSeconds <= 0 {
		add("no dapr.io/graceful-shutdown-seconds: the sidecar stops after daprd's default 5 s, whatever is in flight")
	}
	need := time.Duration(max(sc.GracefulShutdownSeconds, 0)) * time.Second
	if sc.BlockShutdownDuration != nil {
		d, err := time.ParseDuration(*sc.BlockShutdownDuration)
		if err != nil {
			add("dapr.io/block-shutdown-duration %q is not a duration", *sc.BlockShutdownDuration)
		}
		need += d
	}
	var sleep time.Duration
	for _, c := range a.Deployment.Spec.Template.Spec.Containers {
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			sleep = max(sleep, time.Duration(c.Lifecycle.PreStop.Sleep.Seconds)*time.Second)
		}
	}
	need += sleep
	grace := 30 * time.Second
	if g := a.Deployment.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if grace <= need {
		add("terminationGracePeriodSeconds (%v) must exceed the sidecar's block-shutdown-duration plus graceful-shutdown-seconds plus the preStop sleep (%v), or the kubelet kills the pod mid-drain", grace, need)
	}
	return ps
}

// checkTokens wants each app to present a Dapr API token to its sidecar,
// and each sidecar an app API token to an app that checks one, each side
// reading the same Secret: the injector gives daprd the secret's key
// "token" (pkg/injector/patcher), and the app reads DAPR_API_TOKEN and
// APP_API_TOKEN, as locally.
func (sys *System) checkTokens(a *AppPod) Problems {
	var ps Problems
	pair := func(annotation, secret, env string, required bool) {
		if secret == "" {
			if required {
				ps = append(ps, problem(CheckTokens, a.Ref, "no %s: the sidecar takes %s from that Secret", annotation, env))
			}
			return
		}
		var ref *corev1.SecretKeySelector
		for _, e := range a.Container.Env {
			if e.Name == env && e.ValueFrom != nil {
				ref = e.ValueFrom.SecretKeyRef
			}
		}
		switch {
		case ref == nil:
			ps = append(ps, problem(CheckTokens, a.Ref, "container %s does not read %s from Secret %s (the one %s gives its sidecar)", a.Container.Name, env, secret, annotation))
		case ref.Name != secret || ref.Key != "token":
			ps = append(ps, problem(CheckTokens, a.Ref, "container %s reads %s from %s/%s; its sidecar from %s/token (%s)", a.Container.Name, env, ref.Name, ref.Key, secret, annotation))
		}
	}
	pair("dapr.io/api-token-secret", a.Sidecar.APITokenSecret, "DAPR_API_TOKEN", true)
	pair("dapr.io/app-token-secret", a.Sidecar.AppTokenSecret, "APP_API_TOKEN", a.App.ReadsAppToken)
	return ps
}

// checkEnv wants every variable the run file gives the app, the app
// listening beyond loopback, its admin port declared as "metrics", and its
// traces going where its sidecar's go.
func (sys *System) checkEnv(a *AppPod, run RunSettings) Problems {
	var ps Problems
	add := func(format string, args ...any) { ps = append(ps, problem(CheckEnv, a.Ref, format, args...)) }
	env, missingRefs := sys.environment(a.Container)
	for _, m := range missingRefs {
		add("container %s takes its environment from ConfigMap %s, which the overlay does not hold", a.Container.Name, m)
	}
	for _, name := range EnvNames(run.Env) {
		if _, ok := env[name]; !ok {
			add("dapr/dapr.yaml gives %s %s=%s, and its container does not set %s", a.App.AppID, name, envString(run.Env[name]), name)
		}
	}
	if host, ok := env["APP_HOST"]; ok && isLoopback(host) {
		add("APP_HOST=%s: in a pod the app must listen on the pod's address, which kubelet probes use", host)
	}
	if port, ok := env["APP_PORT"]; ok && port != strconv.Itoa(a.App.AppPort) {
		ps = append(ps, problem(CheckAppPort, a.Ref, "APP_PORT=%s; the app's port is %d", port, a.App.AppPort))
	}
	if admin, ok := env["ADMIN_PORT"]; ok {
		if !slices.ContainsFunc(a.Container.Ports, func(p corev1.ContainerPort) bool {
			return p.Name == "metrics" && strconv.Itoa(int(p.ContainerPort)) == admin
		}) {
			add("ADMIN_PORT=%s, and the container declares no port %s named metrics (Prometheus and the NetworkPolicies find it by that name)", admin, admin)
		}
	}
	if endpoint, ok := env["OTEL_EXPORTER_OTLP_ENDPOINT"]; ok {
		u, err := url.Parse(endpoint)
		switch {
		case err != nil || u.Host == "":
			add("OTEL_EXPORTER_OTLP_ENDPOINT=%s is not a URL", endpoint)
		case isLoopback(u.Hostname()):
			add("OTEL_EXPORTER_OTLP_ENDPOINT=%s: in a pod nothing collects there", endpoint)
		default:
			if cfg := sys.configuration(a.Sidecar.Config); cfg != nil && cfg.Spec.TracingSpec != nil && cfg.Spec.TracingSpec.Otel != nil {
				if side := cfg.Spec.TracingSpec.Otel.EndpointAddress; side != u.Host {
					add("the app sends its spans to %s, its sidecar to %s: one trace needs both in one collector", u.Host, side)
				}
			}
		}
	}
	return ps
}

// environment returns a container's variables, literal or referenced, with
// those of the ConfigMaps it takes whole, and the ConfigMaps it names that
// the set lacks.
func (sys *System) environment(c *corev1.Container) (map[string]string, []string) {
	env := map[string]string{}
	var missing []string
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		cm := sys.configMap(from.ConfigMapRef.Name)
		if cm == nil {
			missing = append(missing, from.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			env[from.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		env[e.Name] = e.Value // a reference counts as set; its value is not known here
	}
	return env, missing
}

func (sys *System) configMap(name string) *corev1.ConfigMap {
	for _, cm := range Of[*corev1.ConfigMap](sys.Set) {
		if cm.Name == name {
			return cm
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
