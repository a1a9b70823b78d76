package check

import (
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"

	componentsapi "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	configurationapi "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
	resiliencyapi "github.com/dapr/dapr/pkg/apis/resiliency/v1alpha1"
	subscriptionsapi "github.com/dapr/dapr/pkg/apis/subscriptions/v2alpha1"
)

// behaviourMetadata are the component metadata fields that change what an
// app sees, whatever the store: they must be the same as locally. (The rest,
// addresses and tuning, differ by infrastructure.)
var behaviourMetadata = []string{
	"actorStateStore",               // Dapr Workflow keeps the sagas here (orders)
	"outboxPublishPubsub",           // the transactional outbox (users)
	"outboxPublishTopic",            //
	"outboxDiscardWhenMissingState", //
}

// topicScopeMetadata are the pub/sub metadata fields that say which app may
// publish or subscribe to which topic (components/local/pubsub.yaml says
// why all four): the same as locally, but for the outbox's internal topics,
// which daprd names after the namespace (<namespace><app><topic>outbox).
var topicScopeMetadata = []string{"allowedTopics", "protectedTopics", "publishingScopes", "subscriptionScopes"}

// nodeLocalTypes are component types that keep their data on one node (or
// in one process): fine on a laptop, wrong for pods that move and scale.
var nodeLocalTypes = []string{
	"state.sqlite", "state.in-memory", "pubsub.in-memory",
	"secretstores.local.file", "secretstores.local.env", "lock.in-memory",
}

func (sys *System) component(name string) *componentsapi.Component {
	for _, c := range Of[*componentsapi.Component](sys.Set) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (sys *System) configuration(name string) *configurationapi.Configuration {
	for _, c := range Of[*configurationapi.Configuration](sys.Set) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// checkComponents wants every component the local profile loads, under the
// same name, of the same building block, with the same scopes and the same
// behaviour metadata; and nothing else (an app only knows the local names).
func (sys *System) checkComponents() Problems {
	var ps Problems
	add := func(ref, format string, args ...any) { ps = append(ps, problem(CheckComponents, ref, format, args...)) }
	local := map[string]bool{}
	for _, lc := range sys.Repo.Components {
		local[lc.Name] = true
		ref := "Component/" + lc.Name
		kc := sys.component(lc.Name)
		if kc == nil {
			add(ref, "components/local has %s (%s); the overlay has no component of that name", lc.Name, lc.Spec.Type)
			continue
		}
		if block(kc.Spec.Type) != block(lc.Spec.Type) {
			add(ref, "is a %s here (%s), a %s locally (%s)", block(kc.Spec.Type), kc.Spec.Type, block(lc.Spec.Type), lc.Spec.Type)
		}
		if !sameSet(kc.Scopes, lc.Scopes) {
			add(ref, "scopes %v here, %v locally", kc.Scopes, lc.Scopes)
		}
		for _, name := range behaviourMetadata {
			got, want := metadataValue(kc, name), metadataValue(lc, name)
			if got != want {
				add(ref, "metadata %s is %q here, %q locally", name, got, want)
			}
		}
		if block(lc.Spec.Type) == "pubsub" {
			rename := sys.outboxTopicsIn(kc.Namespace)
			for _, name := range topicScopeMetadata {
				got, want := metadataValue(kc, name), rename.Replace(metadataValue(lc, name))
				if got != want {
					add(ref, "metadata %s is %q here; want %q, as locally with the namespace's outbox topics", name, got, want)
				}
			}
		}
	}
	for _, kc := range Of[*componentsapi.Component](sys.Set) {
		ref := "Component/" + kc.Name
		if !local[kc.Name] {
			add(ref, "is not a component of components/local: no app uses it, or the local profile lacks it")
		}
		if slices.Contains(nodeLocalTypes, kc.Spec.Type) {
			add(ref, "type %s keeps its data on one node", kc.Spec.Type)
		}
	}
	return ps
}

// outboxTopicsIn renames the local profile's outbox internal topics
// (namespace "default") to the ones daprd uses in namespace ns.
func (sys *System) outboxTopicsIn(ns string) *strings.Replacer {
	var pairs []string
	for _, lc := range sys.Repo.Components {
		topic := metadataValue(lc, "outboxPublishTopic")
		if topic == "" {
			continue
		}
		for _, app := range lc.Scopes {
			pairs = append(pairs, "default"+app+topic+"outbox", ns+app+topic+"outbox")
		}
	}
	return strings.NewReplacer(pairs...)
}

// block is a component type's building block: "state" of "state.redis".
func block(typ string) string {
	b, _, _ := strings.Cut(typ, ".")
	return b
}

func metadataValue(c *componentsapi.Component, name string) string {
	for _, m := range c.Spec.Metadata {
		if m.Name == name {
			return m.Value.String()
		}
	}
	return ""
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// checkConfigurations checks each app's Configuration against its local
// one: mTLS on, access control default deny with the same policies (in the
// overlay's namespace), tracing to a collector in the cluster, metrics as
// locally, and no node-local name resolution.
func (sys *System) checkConfigurations() Problems {
	var ps Problems
	for _, a := range sys.Apps {
		if a.App == nil || a.Sidecar == nil || a.Sidecar.Config == "" {
			continue
		}
		cfg := sys.configuration(a.Sidecar.Config)
		if cfg == nil {
			continue // checkApp reports it
		}
		ps = append(ps, compareConfiguration("Configuration/"+cfg.Name, sys.Namespace, cfg.Spec, a.App.Config.Spec, a.App.ConfigFile)...)
	}
	return ps
}

func compareConfiguration(ref, namespace string, got, want configurationapi.ConfigurationSpec, wantFile string) Problems {
	var ps Problems
	add := func(format string, args ...any) { ps = append(ps, problem(CheckConfiguration, ref, format, args...)) }
	if got.MTLSSpec == nil || got.MTLSSpec.Enabled == nil || !*got.MTLSSpec.Enabled {
		add("mtls.enabled is not true: access control identifies callers by their mTLS certificates")
	}
	if m := got.MTLSSpec; m != nil && (m.ControlPlaneTrustDomain == "" || m.SentryAddress == "") {
		add("mtls lacks controlPlaneTrustDomain or sentryAddress: Dapr's Configuration CRD requires both whenever mtls is set, and the API server refuses the object")
	}
	ac, lac := got.AccessControlSpec, want.AccessControlSpec
	switch {
	case ac == nil:
		add("no accessControl: every app could invoke this one")
	case lac == nil:
		add("%s has no accessControl to compare with", wantFile)
	default:
		if !strings.EqualFold(ac.DefaultAction, "deny") {
			add("accessControl.defaultAction is %q, not deny", ac.DefaultAction)
		}
		if ac.TrustDomain != lac.TrustDomain {
			add("accessControl.trustDomain is %q, %q locally", ac.TrustDomain, lac.TrustDomain)
		}
		if len(ac.AppPolicies) != len(lac.AppPolicies) {
			add("%d access-control policies, %d in %s", len(ac.AppPolicies), len(lac.AppPolicies), wantFile)
		}
		for i := range min(len(ac.AppPolicies), len(lac.AppPolicies)) {
			p, lp := ac.AppPolicies[i], lac.AppPolicies[i]
			if p.Namespace != namespace {
				add("policy %d (%s) names namespace %q; the apps run in %q", i+1, p.AppName, p.Namespace, namespace)
			}
			// The namespace is the deployment's, so compare the rest.
			p.Namespace, lp.Namespace = "", ""
			if !reflect.DeepEqual(p, lp) {
				add("policy %d is %s, and in %s %s", i+1, describePolicy(p), wantFile, describePolicy(lp))
			}
		}
	}
	switch t := got.TracingSpec; {
	case t == nil || t.Otel == nil || t.Otel.EndpointAddress == "":
		add("no tracing.otel: the sidecar's spans go nowhere")
	default:
		host, _, err := net.SplitHostPort(t.Otel.EndpointAddress)
		if err != nil {
			add("tracing.otel.endpointAddress %q is not host:port", t.Otel.EndpointAddress)
		} else if isLoopback(host) {
			add("tracing.otel.endpointAddress %s is the pod's own loopback: nothing collects there in a cluster", t.Otel.EndpointAddress)
		}
		if t.SamplingRate == "" {
			add("tracing.samplingRate is empty: nothing is sampled")
		}
	}
	if m, lm := metricsSpec(got), metricsSpec(want); m == nil || m.Enabled == nil || !*m.Enabled {
		add("metrics.enabled is not true")
	} else if lm != nil && !reflect.DeepEqual(m.HTTP, lm.HTTP) {
		add("metrics.http differs from %s (raw paths in metric labels?)", wantFile)
	}
	if nr := got.NameResolutionSpec; nr != nil && nr.Component == "sqlite" {
		add("nameResolution sqlite shares a file between sidecars on one machine; on Kubernetes leave it out (DNS)")
	}
	return ps
}

// metricsSpec is the metrics settings daprd applies: spec.metrics, else the
// older spec.metric (pkg/config sortMetricsSpec).
func metricsSpec(s configurationapi.ConfigurationSpec) *configurationapi.MetricSpec {
	if s.MetricsSpec != nil {
		return s.MetricsSpec
	}
	return s.MetricSpec
}

func describePolicy(p configurationapi.AppPolicySpec) string {
	var ops []string
	for _, o := range p.AppOperationActions {
		ops = append(ops, fmt.Sprintf("%s %v %s", o.Operation, o.HTTPVerb, o.Action))
	}
	return fmt.Sprintf("{app %s, trust domain %s, default %s, operations [%s]}", p.AppName, p.TrustDomain, p.DefaultAction, strings.Join(ops, "; "))
}

// checkSubscriptions wants the local Subscriptions, unchanged.
func (sys *System) checkSubscriptions() Problems {
	var ps Problems
	got := map[string]*subscriptionsapi.Subscription{}
	for _, s := range Of[*subscriptionsapi.Subscription](sys.Set) {
		got[s.Name] = s
	}
	want := map[string]bool{}
	for _, ls := range sys.Repo.Subscriptions {
		want[ls.Name] = true
		ref := "Subscription/" + ls.Name
		s := got[ls.Name]
		switch {
		case s == nil:
			ps = append(ps, problem(CheckSubscriptions, ref, "dapr/resources has it (topic %s for %v); the overlay does not", ls.Spec.Topic, ls.Scopes))
		case !reflect.DeepEqual(s.Spec, ls.Spec) || !sameSet(s.Scopes, ls.Scopes):
			ps = append(ps, problem(CheckSubscriptions, ref, "differs from dapr/resources: %+v scopes %v here, %+v scopes %v there", s.Spec, s.Scopes, ls.Spec, ls.Scopes))
		}
	}
	for name := range got {
		if !want[name] {
			ps = append(ps, problem(CheckSubscriptions, "Subscription/"+name, "is not in dapr/resources"))
		}
	}
	return ps
}

// checkResiliency wants the local Resiliency policies, unchanged.
func (sys *System) checkResiliency() Problems {
	var ps Problems
	got := map[string]*resiliencyapi.Resiliency{}
	for _, r := range Of[*resiliencyapi.Resiliency](sys.Set) {
		got[r.Name] = r
	}
	want := map[string]bool{}
	for _, lr := range sys.Repo.Resiliencies {
		want[lr.Name] = true
		ref := "Resiliency/" + lr.Name
		r := got[lr.Name]
		switch {
		case r == nil:
			ps = append(ps, problem(CheckResiliency, ref, "dapr/resources has it; the overlay does not"))
		case !reflect.DeepEqual(r.Spec, lr.Spec) || !sameSet(r.Scopes, lr.Scopes):
			ps = append(ps, problem(CheckResiliency, ref, "differs from dapr/resources"))
		}
	}
	for name := range got {
		if !want[name] {
			ps = append(ps, problem(CheckResiliency, "Resiliency/"+name, "is not in dapr/resources"))
		}
	}
	return ps
}
