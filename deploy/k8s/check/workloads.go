package check

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	componentsapi "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	configurationapi "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Workload is a pod template of a Deployment or StatefulSet.
type Workload struct {
	Ref       string
	Namespace string
	Template  corev1.PodTemplateSpec
}

// Workloads returns every pod template of the set.
func Workloads(s *Set) []Workload {
	var ws []Workload
	for _, o := range s.Objects {
		switch obj := o.Obj.(type) {
		case *appsv1.Deployment:
			ws = append(ws, Workload{o.Ref(), obj.Namespace, obj.Spec.Template})
		case *appsv1.StatefulSet:
			ws = append(ws, Workload{o.Ref(), obj.Namespace, obj.Spec.Template})
		}
	}
	return ws
}

// CheckWorkloads runs the checks every kustomization of deploy/k8s must
// pass, the dev servers of infra/ included: pinned images, probes,
// requests and limits, restrictive security contexts, no inlined secret.
func CheckWorkloads(s *Set) Problems {
	var ps Problems
	for _, w := range Workloads(s) {
		ps = append(ps, checkPod(w.Ref, w.Template.Spec, nil)...)
	}
	ps = append(ps, checkSecrets(s)...)
	return ps
}

// checkPod checks the containers of a pod spec; only those named in only,
// when given (the sidecar of an injected pod).
func checkPod(ref string, spec corev1.PodSpec, only []string) Problems {
	var ps Problems
	if only == nil && (spec.HostNetwork || spec.HostPID || spec.HostIPC) {
		ps = append(ps, problem(CheckSecurity, ref, "shares the node's network, PID or IPC namespace"))
	}
	check := func(c corev1.Container, init bool) {
		if only != nil && !slices.Contains(only, c.Name) {
			return
		}
		where := ref + " container " + c.Name
		ps = append(ps, checkImage(where, c.Image)...)
		// Init containers run to completion: no probes, whatever else.
		if !init || isRestartableInit(c) {
			ps = append(ps, checkProbes(where, c)...)
		}
		ps = append(ps, checkResources(where, c.Resources)...)
		ps = append(ps, checkSecurityContext(where, spec.SecurityContext, c.SecurityContext)...)
	}
	for _, c := range spec.InitContainers {
		check(c, true)
	}
	for _, c := range spec.Containers {
		check(c, false)
	}
	return ps
}

func isRestartableInit(c corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// checkImage wants a tag other than latest, or a digest: an untagged image
// is latest, and latest is whatever was pushed last.
func checkImage(where, image string) Problems {
	if image == "" {
		return Problems{problem(CheckImages, where, "no image")}
	}
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	name := image
	if i := strings.LastIndex(image, "/"); i >= 0 {
		name = image[i+1:]
	}
	i := strings.LastIndex(name, ":")
	if i < 0 {
		return Problems{problem(CheckImages, where, "image %s has no tag (so it is latest): pin a version or a digest", image)}
	}
	if tag := name[i+1:]; tag == "latest" {
		return Problems{problem(CheckImages, where, "image %s uses latest: pin a version or a digest", image)}
	}
	return nil
}

func checkProbes(where string, c corev1.Container) Problems {
	var ps Problems
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
	}{{"liveness", c.LivenessProbe}, {"readiness", c.ReadinessProbe}} {
		if p.probe == nil {
			ps = append(ps, problem(CheckProbes, where, "no %s probe", p.kind))
			continue
		}
		var port *intstr.IntOrString
		switch h := p.probe.ProbeHandler; {
		case h.HTTPGet != nil:
			port = &h.HTTPGet.Port
		case h.TCPSocket != nil:
			port = &h.TCPSocket.Port
		case h.Exec != nil, h.GRPC != nil:
		default:
			ps = append(ps, problem(CheckProbes, where, "the %s probe has no handler", p.kind))
		}
		if port != nil && port.Type == intstr.String && !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == port.StrVal }) {
			ps = append(ps, problem(CheckProbes, where, "the %s probe names port %q, which the container does not declare", p.kind, port.StrVal))
		}
	}
	return ps
}

func checkResources(where string, r corev1.ResourceRequirements) Problems {
	var ps Problems
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := r.Requests[name]
		lim, hasLim := r.Limits[name]
		if !hasReq {
			ps = append(ps, problem(CheckResources, where, "no %s request", name))
		}
		if !hasLim {
			ps = append(ps, problem(CheckResources, where, "no %s limit", name))
		}
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			ps = append(ps, problem(CheckResources, where, "%s request %s exceeds its limit %s", name, req.String(), lim.String()))
		}
	}
	return ps
}

// checkSecurityContext wants what the "restricted" Pod Security Standard
// wants, and a read-only root filesystem: non-root, no privilege
// escalation, every capability dropped, the runtime's seccomp profile. A
// container inherits runAsNonRoot, runAsUser and seccompProfile from its pod.
func checkSecurityContext(where string, pod *corev1.PodSecurityContext, sc *corev1.SecurityContext) Problems {
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	var ps Problems
	add := func(format string, args ...any) { ps = append(ps, problem(CheckSecurity, where, format, args...)) }

	nonRoot := pod.RunAsNonRoot
	if sc.RunAsNonRoot != nil {
		nonRoot = sc.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		add("runAsNonRoot is not true")
	}
	user := pod.RunAsUser
	if sc.RunAsUser != nil {
		user = sc.RunAsUser
	}
	if user != nil && *user == 0 {
		add("runs as user 0 (root)")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		add("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		add("allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		add("is privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		add("does not drop ALL capabilities")
	}
	if sc.Capabilities != nil && len(sc.Capabilities.Add) > 0 {
		add("adds capabilities %v", sc.Capabilities.Add)
	}
	seccomp := pod.SeccompProfile
	if sc.SeccompProfile != nil {
		seccomp = sc.SeccompProfile
	}
	if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
		add("no RuntimeDefault (or Localhost) seccomp profile")
	}
	return ps
}

var (
	// secretEnvName matches the names of environment variables that hold a
	// secret's value (not a secret's name: JWT_KEY_SECRET names one).
	secretEnvName = regexp.MustCompile(`(?i)(^|_)(PASSWORD|PASSWD|TOKEN|CREDENTIALS?|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CONNECTION_?STRING)$`)
	// secretField matches the names of Dapr metadata fields and ConfigMap
	// keys that hold a secret's value.
	secretField = regexp.MustCompile(`(?i)(password|passwd|secret|token|credential|connectionstring|accesskey|apikey|privatekey)`)
	// secretValue matches values that carry a password themselves: a URL
	// with user:password@, or a key=value connection string with a password.
	secretValue = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@|(^|[\s;])password\s*=\s*[^\s;])`)
)

// checkSecrets finds secrets written into the manifests instead of
// referenced: a Secret with data (from a secretGenerator, say), a container
// variable holding a password, a component metadata value holding one, a
// ConfigMap holding one. A value may be empty (no password); otherwise it
// must come from a secretKeyRef.
func checkSecrets(s *Set) Problems {
	var ps Problems
	add := func(ref, format string, args ...any) { ps = append(ps, problem(CheckSecrets, ref, format, args...)) }
	for _, o := range s.Objects {
		switch obj := o.Obj.(type) {
		case *corev1.Secret:
			if len(obj.Data) > 0 || len(obj.StringData) > 0 {
				add(o.Ref(), "a Secret with its data in the manifests: create it in the cluster instead (docs/kubernetes.md) and reference it")
			}
		case *corev1.ConfigMap:
			for k, v := range obj.Data {
				if secretField.MatchString(k) && v != "" {
					add(o.Ref(), "key %s looks like a secret: put it in a Secret and reference it", k)
				} else if secretValue.MatchString(v) {
					add(o.Ref(), "the value of %s carries a password", k)
				}
			}
		case *componentsapi.Component:
			for _, m := range obj.Spec.Metadata {
				v := m.Value.String()
				if v == "" {
					continue
				}
				if secretField.MatchString(m.Name) {
					add(o.Ref(), "metadata %s holds its value inline: use secretKeyRef", m.Name)
				} else if secretValue.MatchString(v) {
					add(o.Ref(), "metadata %s carries a password inline: use secretKeyRef", m.Name)
				}
			}
		case *configurationapi.Configuration:
			if t := obj.Spec.TracingSpec; t != nil && t.Otel != nil {
				for _, h := range t.Otel.Headers {
					if h.Value.String() != "" {
						add(o.Ref(), "tracing header %s holds its value inline: use secretKeyRef", h.Name)
					}
				}
			}
		}
	}
	for _, w := range Workloads(s) {
		for _, c := range slices.Concat(w.Template.Spec.InitContainers, w.Template.Spec.Containers) {
			for _, e := range c.Env {
				where := fmt.Sprintf("%s container %s", w.Ref, c.Name)
				if e.Value != "" && secretEnvName.MatchString(e.Name) {
					add(where, "%s holds its value inline: use valueFrom.secretKeyRef", e.Name)
				} else if secretValue.MatchString(e.Value) {
					add(where, "the value of %s carries a password: use valueFrom.secretKeyRef", e.Name)
				}
			}
		}
		if env := w.Template.Annotations["dapr.io/env"]; env != "" {
			for _, kv := range strings.Split(env, ",") {
				name, value, _ := strings.Cut(strings.TrimSpace(kv), "=")
				if value != "" && (secretEnvName.MatchString(name) || secretValue.MatchString(value)) {
					add(w.Ref, "dapr.io/env gives the sidecar %s inline: use dapr.io/env-from-secret", name)
				}
			}
		}
	}
	return ps
}
