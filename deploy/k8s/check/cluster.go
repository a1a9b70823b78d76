package check

import (
	"fmt"
	"slices"
	"strconv"

	componentsapi "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// selects reports whether a label selector selects pods with the labels;
// a nil selector selects nothing, an invalid one too.
func selects(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(podLabels))
}

// checkAvailability wants every app covered by a PodDisruptionBudget that
// still lets a node drain, an autoscaler on every stateless app (and none on
// the apps of FixedReplicas), and at least two replicas of everything.
func (sys *System) checkAvailability() Problems {
	var ps Problems
	add := func(ref, format string, args ...any) {
		ps = append(ps, problem(CheckAvailability, ref, format, args...))
	}
	hpas := Of[*autoscalingv2.HorizontalPodAutoscaler](sys.Set)
	hpaOf := func(d *appsv1.Deployment) *autoscalingv2.HorizontalPodAutoscaler {
		for _, h := range hpas {
			if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == d.Name {
				return h
			}
		}
		return nil
	}
	for _, h := range hpas {
		if !slices.ContainsFunc(sys.Apps, func(a *AppPod) bool {
			return h.Spec.ScaleTargetRef.Kind == "Deployment" && a.Deployment.Name == h.Spec.ScaleTargetRef.Name
		}) {
			add("HorizontalPodAutoscaler/"+h.Name, "scales %s/%s, which the overlay does not hold", h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
		}
	}
	for _, a := range sys.Apps {
		d := a.Deployment
		minReplicas := int32(1)
		if d.Spec.Replicas != nil {
			minReplicas = *d.Spec.Replicas
		}
		h := hpaOf(d)
		reason, fixed := "", false
		if a.App != nil {
			reason, fixed = FixedReplicas[a.App.AppID]
		}
		switch {
		case h != nil && fixed:
			add(a.Ref, "has an autoscaler, and must not: %s", reason)
		case h == nil && !fixed:
			add(a.Ref, "no HorizontalPodAutoscaler: a stateless app scales with its load")
		case h != nil:
			if d.Spec.Replicas != nil {
				add(a.Ref, "sets replicas and has an autoscaler: every apply would reset the autoscaler's count")
			}
			minReplicas = 1
			if h.Spec.MinReplicas != nil {
				minReplicas = *h.Spec.MinReplicas
			}
		}
		if minReplicas < 2 {
			add(a.Ref, "runs %d replica at times: a node drain or a crash takes the app down", minReplicas)
		}
		var pdbs []*policyv1.PodDisruptionBudget
		for _, p := range Of[*policyv1.PodDisruptionBudget](sys.Set) {
			if selects(p.Spec.Selector, d.Spec.Template.Labels) {
				pdbs = append(pdbs, p)
			}
		}
		if len(pdbs) == 0 {
			add(a.Ref, "no PodDisruptionBudget selects its pods: a node drain may evict them all at once")
		}
		for _, p := range pdbs {
			if blocksEveryEviction(p.Spec, minReplicas) {
				add("PodDisruptionBudget/"+p.Name, "lets no pod of %s be evicted at %d replicas: node drains would hang", a.Ref, minReplicas)
			}
		}
	}
	return ps
}

func blocksEveryEviction(spec policyv1.PodDisruptionBudgetSpec, replicas int32) bool {
	if m := spec.MaxUnavailable; m != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(m, int(replicas), true)
		return err != nil || v < 1
	}
	if m := spec.MinAvailable; m != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(m, int(replicas), true)
		return err != nil || v >= int(replicas)
	}
	return false
}

// internalPort is the port of daprd's internal gRPC API, over which one
// sidecar invokes another (the injector names it dapr-internal).
var internalPort = intstr.FromString("dapr-internal")

// metricsPorts are the ports Prometheus may reach from outside the
// namespace: the apps' admin ports and the sidecars' metrics ports.
var metricsPorts = []string{"metrics", "dapr-metrics"}

// checkNetwork wants: a default-deny ingress policy; no Service of the
// system exposed on nodes or load balancers; every Ingress going to the
// public app; from outside the namespace, only the public app's HTTP port
// and the metrics ports reachable; between apps, the sidecars' internal port
// reachable exactly by the apps that access control lets invoke (and by the
// app's own replicas); every named port of a policy one the injected pods
// have.
func (sys *System) checkNetwork() Problems {
	var ps Problems
	add := func(ref, format string, args ...any) { ps = append(ps, problem(CheckNetwork, ref, format, args...)) }
	policies := Of[*networkingv1.NetworkPolicy](sys.Set)

	if !slices.ContainsFunc(policies, isDefaultDenyIngress) {
		add("overlay", "no default-deny ingress NetworkPolicy (podSelector {}, policyTypes [Ingress], no rules)")
	}

	public := sys.appPod(PublicApp)
	for _, svc := range Of[*corev1.Service](sys.Set) {
		if t := svc.Spec.Type; t != "" && t != corev1.ServiceTypeClusterIP {
			add("Service/"+svc.Name, "type %s exposes it outside the cluster: the way in is the Ingress to the %s", t, PublicApp)
		}
	}
	var ingressToPublic bool
	for _, ing := range Of[*networkingv1.Ingress](sys.Set) {
		for _, name := range ingressServices(ing) {
			svc := sys.service(name)
			switch {
			case svc == nil:
				add("Ingress/"+ing.Name, "routes to Service %s, which the overlay does not hold", name)
			case public == nil || !selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, public.Deployment.Spec.Template.Labels):
				add("Ingress/"+ing.Name, "routes to Service %s, which does not select the %s's pods", name, PublicApp)
			default:
				ingressToPublic = true
			}
			if svc != nil {
				for _, a := range sys.Apps {
					if a != public && len(svc.Spec.Selector) > 0 && selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, a.Deployment.Spec.Template.Labels) {
						add("Ingress/"+ing.Name, "routes to Service %s, which selects %s's pods: only the %s is public", name, a.Ref, PublicApp)
					}
				}
			}
		}
	}
	if public != nil && !ingressToPublic {
		add("overlay", "no Ingress routes to the %s", PublicApp)
	}

	for _, a := range sys.Apps {
		labelsOf := a.Deployment.Spec.Template.Labels
		isolated := false
		callers := map[string]bool{}
		for _, np := range policies {
			if np.Namespace != a.Deployment.Namespace || !selects(&np.Spec.PodSelector, labelsOf) || !hasIngressType(np) {
				continue
			}
			isolated = true
			ref := "NetworkPolicy/" + np.Name
			for _, rule := range np.Spec.Ingress {
				ps = append(ps, sys.checkRulePorts(ref, a, rule.Ports)...)
				external := len(rule.From) == 0 || slices.ContainsFunc(rule.From, func(p networkingv1.NetworkPolicyPeer) bool {
					return p.NamespaceSelector != nil || p.IPBlock != nil
				})
				if external && !allowedFromOutside(a, public, rule.Ports) {
					add(ref, "lets pods outside the namespace reach %s on %s: only the %s's HTTP port and the metrics ports may be", a.Ref, describePorts(rule.Ports), PublicApp)
				}
				if !coversPort(rule.Ports, internalPort) {
					continue
				}
				for _, peer := range rule.From {
					if peer.NamespaceSelector != nil || peer.IPBlock != nil {
						continue // reported above
					}
					for _, caller := range sys.Apps {
						if caller.App != nil && selects(peer.PodSelector, caller.Deployment.Spec.Template.Labels) {
							callers[caller.App.AppID] = true
						}
					}
				}
			}
		}
		if !isolated {
			add(a.Ref, "no NetworkPolicy selects its pods: anything in the cluster may connect to them")
		}
		if a.App == nil {
			continue
		}
		// The callers access control admits, and the app itself when it
		// hosts actors (its workflows move between its replicas); for an app
		// without actors its own replicas may or may not be let in.
		want := map[string]bool{}
		if cfg := sys.configuration(a.Sidecar.Config); cfg != nil && cfg.Spec.AccessControlSpec != nil {
			for _, p := range cfg.Spec.AccessControlSpec.AppPolicies {
				want[p.AppName] = true
			}
		}
		self := a.App.AppID
		if sys.hostsActors(self) || callers[self] {
			want[self] = true
		}
		if got, exp := keys(callers), keys(want); !slices.Equal(got, exp) {
			why := ""
			if sys.hostsActors(self) {
				why = " (and its replicas host actors)"
			}
			add(a.Ref, "NetworkPolicies let %v reach its sidecar's internal port; access control lets %v invoke it%s: keep the two equal", got, exp, why)
		}
	}
	return ps
}

// hostsActors reports whether the app may use an actor state store: its
// actors (Dapr Workflow's included) are placed on its replicas, which then
// call each other.
func (sys *System) hostsActors(app string) bool {
	for _, c := range Of[*componentsapi.Component](sys.Set) {
		if metadataValue(c, "actorStateStore") == "true" && (len(c.Scopes) == 0 || slices.Contains(c.Scopes, app)) {
			return true
		}
	}
	return false
}

func (sys *System) appPod(id string) *AppPod {
	for _, a := range sys.Apps {
		if a.App != nil && a.App.AppID == id {
			return a
		}
	}
	return nil
}

func (sys *System) service(name string) *corev1.Service {
	for _, s := range Of[*corev1.Service](sys.Set) {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func isDefaultDenyIngress(np *networkingv1.NetworkPolicy) bool {
	return len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 &&
		hasIngressType(np) && len(np.Spec.Ingress) == 0
}

func hasIngressType(np *networkingv1.NetworkPolicy) bool {
	// With no policyTypes, a policy is an ingress policy.
	return len(np.Spec.PolicyTypes) == 0 || slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
}

func ingressServices(ing *networkingv1.Ingress) []string {
	var names []string
	if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil {
		names = append(names, b.Service.Name)
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service != nil {
				names = append(names, p.Backend.Service.Name)
			}
		}
	}
	return names
}

// allowedFromOutside: the public app's HTTP port, or metrics ports only.
func allowedFromOutside(a, public *AppPod, ports []networkingv1.NetworkPolicyPort) bool {
	if len(ports) == 0 {
		return false // every port
	}
	onlyMetrics := !slices.ContainsFunc(ports, func(p networkingv1.NetworkPolicyPort) bool {
		return p.Port == nil || p.Port.Type != intstr.String || !slices.Contains(metricsPorts, p.Port.StrVal)
	})
	if onlyMetrics {
		return true
	}
	if a != public || a.App == nil {
		return false
	}
	httpPort := strconv.Itoa(a.App.AppPort)
	return !slices.ContainsFunc(ports, func(p networkingv1.NetworkPolicyPort) bool {
		if p.Port == nil || p.EndPort != nil {
			return true
		}
		if p.Port.Type == intstr.Int {
			return strconv.Itoa(p.Port.IntValue()) != httpPort
		}
		// A named port: the container port of that name must be the app's.
		return !slices.ContainsFunc(a.Container.Ports, func(cp corev1.ContainerPort) bool {
			return cp.Name == p.Port.StrVal && strconv.Itoa(int(cp.ContainerPort)) == httpPort
		})
	})
}

// coversPort reports whether a rule's ports include the port (no ports: all).
func coversPort(ports []networkingv1.NetworkPolicyPort, port intstr.IntOrString) bool {
	if len(ports) == 0 {
		return true
	}
	return slices.ContainsFunc(ports, func(p networkingv1.NetworkPolicyPort) bool {
		return p.Port == nil || *p.Port == port || (p.Port.Type == intstr.Int && p.Port.IntValue() == 50002)
	})
}

// checkRulePorts wants each named port of a rule to be a port of the pod as
// injected: a name no container has matches nothing, silently.
func (sys *System) checkRulePorts(ref string, a *AppPod, ports []networkingv1.NetworkPolicyPort) Problems {
	if a.Injected == nil {
		return nil
	}
	var ps Problems
	for _, p := range ports {
		if p.Port == nil || p.Port.Type != intstr.String {
			continue
		}
		found := slices.ContainsFunc(a.Injected.Spec.Containers, func(c corev1.Container) bool {
			return slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.Port.StrVal })
		})
		if !found {
			ps = append(ps, problem(CheckNetwork, ref, "names port %q, which no container of %s has (after injection): the rule matches nothing", p.Port.StrVal, a.Ref))
		}
	}
	return ps
}

func describePorts(ports []networkingv1.NetworkPolicyPort) string {
	if len(ports) == 0 {
		return "every port"
	}
	var s []string
	for _, p := range ports {
		if p.Port == nil {
			s = append(s, "every port")
			continue
		}
		s = append(s, p.Port.String())
	}
	return fmt.Sprint(s)
}
