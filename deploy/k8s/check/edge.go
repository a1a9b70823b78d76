package check

import (
	"fmt"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The edge in front of the gateway (deploy/k8s/ingress/): the ingress
// controllers' own kinds, each decoded strictly into the fields daprshop
// uses, so that a field this check does not know, an auth middleware among
// them, is a decode problem to look at rather than a silent addition.

// TraefikMiddleware is Traefik's Middleware (traefik.io/v1alpha1), with the
// two middlewares the edge uses.
type TraefikMiddleware struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		RateLimit *struct {
			Average int64  `json:"average"`
			Period  string `json:"period,omitempty"`
			Burst   int64  `json:"burst,omitempty"`
		} `json:"rateLimit,omitempty"`
		Buffering *struct {
			MaxRequestBodyBytes int64 `json:"maxRequestBodyBytes"`
		} `json:"buffering,omitempty"`
	} `json:"spec"`
}

// KongPlugin is the Kong Ingress Controller's KongPlugin
// (configuration.konghq.com/v1): a plugin by name and its configuration,
// which checkEdge decodes by plugin.
type KongPlugin struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Plugin            string         `json:"plugin"`
	Config            map[string]any `json:"config,omitempty"`
}

// gatewayMaxBodyBytes is the gateway's own body limit
// (internal/web.MaxBodyBytes, in the services' module): the edge refuses
// what the gateway would, no less and no more.
const gatewayMaxBodyBytes = 1 << 20

// kongPlugins are the plugins the edge may run, with the configuration
// fields each may have; authentication plugins are named to be refused.
var (
	kongPlugins = map[string][]string{
		"rate-limiting":         {"second", "minute", "hour", "policy", "limit_by"},
		"request-size-limiting": {"allowed_payload_size", "size_unit", "require_content_length"},
	}
	kongAuthPlugins = []string{"jwt", "key-auth", "basic-auth", "oauth2", "hmac-auth", "ldap-auth", "openid-connect", "acl"}
)

// The annotations by which an Ingress names its edge middlewares.
const (
	traefikMiddlewares = "traefik.ingress.kubernetes.io/router.middlewares"
	kongPluginsKey     = "konghq.com/plugins"
)

// checkEdge wants, of an Ingress taken by Traefik or Kong: every middleware
// or plugin it names present in its namespace; a rate limit per client
// address and a body limit equal to the gateway's among them; no
// authentication at the edge (it stays in the gateway, with the verified
// subject the services' routes need: deploy/k8s/ingress/README.md).
func (sys *System) checkEdge() Problems {
	var ps Problems
	add := func(ref, format string, args ...any) { ps = append(ps, problem(CheckNetwork, ref, format, args...)) }
	for _, ing := range Of[*networkingv1.Ingress](sys.Set) {
		ref := "Ingress/" + ing.Name
		class := ""
		if ing.Spec.IngressClassName != nil {
			class = *ing.Spec.IngressClassName
		}
		switch {
		case class == "traefik" || ing.Annotations[traefikMiddlewares] != "":
			ps = append(ps, sys.checkTraefik(ref, ing)...)
		case class == "kong" || ing.Annotations[kongPluginsKey] != "":
			ps = append(ps, sys.checkKong(ref, ing)...)
		}
		if class == "traefik" && ing.Annotations[kongPluginsKey] != "" || class == "kong" && ing.Annotations[traefikMiddlewares] != "" {
			add(ref, "ingress class %s, with the other controller's annotations: they would do nothing", class)
		}
	}
	return ps
}

func (sys *System) checkTraefik(ref string, ing *networkingv1.Ingress) Problems {
	var ps Problems
	add := func(format string, args ...any) { ps = append(ps, problem(CheckNetwork, ref, format, args...)) }
	var rateLimited, bodyLimited bool
	for _, name := range names(ing.Annotations[traefikMiddlewares]) {
		short, ok := strings.CutSuffix(name, "@kubernetescrd")
		if !ok {
			add("middleware %q is not one of the namespace's Middlewares (<namespace>-<name>@kubernetescrd)", name)
			continue
		}
		i := slices.IndexFunc(Of[*TraefikMiddleware](sys.Set), func(m *TraefikMiddleware) bool {
			return m.Namespace+"-"+m.Name == short && m.Namespace == ing.Namespace
		})
		if i < 0 {
			add("names Middleware %s, which the overlay does not hold in namespace %s", name, ing.Namespace)
			continue
		}
		m := Of[*TraefikMiddleware](sys.Set)[i]
		if rl := m.Spec.RateLimit; rl != nil && rl.Average > 0 {
			rateLimited = true
		}
		if b := m.Spec.Buffering; b != nil {
			bodyLimited = true
			if b.MaxRequestBodyBytes != gatewayMaxBodyBytes {
				add("Middleware %s limits bodies to %d bytes; the gateway's limit is %d", m.Name, b.MaxRequestBodyBytes, gatewayMaxBodyBytes)
			}
		}
	}
	ps = append(ps, edgeHas(ref, rateLimited, bodyLimited)...)
	return ps
}

func (sys *System) checkKong(ref string, ing *networkingv1.Ingress) Problems {
	var ps Problems
	add := func(format string, args ...any) { ps = append(ps, problem(CheckNetwork, ref, format, args...)) }
	var rateLimited, bodyLimited bool
	for _, name := range names(ing.Annotations[kongPluginsKey]) {
		i := slices.IndexFunc(Of[*KongPlugin](sys.Set), func(p *KongPlugin) bool { return p.Name == name && p.Namespace == ing.Namespace })
		if i < 0 {
			add("names KongPlugin %s, which the overlay does not hold in namespace %s", name, ing.Namespace)
			continue
		}
		p := Of[*KongPlugin](sys.Set)[i]
		if slices.Contains(kongAuthPlugins, p.Plugin) {
			add("KongPlugin %s runs %s at the edge: authentication stays in the gateway (deploy/k8s/ingress/README.md)", p.Name, p.Plugin)
			continue
		}
		fields, known := kongPlugins[p.Plugin]
		if !known {
			add("KongPlugin %s runs plugin %q, which this check does not know (add it to kongPlugins, with its checks)", p.Name, p.Plugin)
			continue
		}
		for k := range p.Config {
			if !slices.Contains(fields, k) {
				add("KongPlugin %s: %s has no config field %q this check knows", p.Name, p.Plugin, k)
			}
		}
		switch p.Plugin {
		case "rate-limiting":
			rateLimited = p.Config["limit_by"] == "ip" && (p.Config["second"] != nil || p.Config["minute"] != nil)
			if !rateLimited {
				add("KongPlugin %s limits by %v: the edge's limit is per client address (limit_by: ip, with a rate)", p.Name, p.Config["limit_by"])
			}
		case "request-size-limiting":
			bodyLimited = true
			if size, unit := fmt.Sprint(p.Config["allowed_payload_size"]), p.Config["size_unit"]; size != "1" || unit != "megabytes" {
				add("KongPlugin %s limits bodies to %s %v; the gateway's limit is 1 megabytes", p.Name, size, unit)
			}
		}
	}
	ps = append(ps, edgeHas(ref, rateLimited, bodyLimited)...)
	return ps
}

func edgeHas(ref string, rateLimited, bodyLimited bool) Problems {
	var ps Problems
	if !rateLimited {
		ps = append(ps, problem(CheckNetwork, ref, "the edge keeps no rate limit per client address: behind it the gateway sees only the controller's address"))
	}
	if !bodyLimited {
		ps = append(ps, problem(CheckNetwork, ref, "the edge keeps no body limit: oversized bodies would cross the cluster to the gateway"))
	}
	return ps
}

// names splits a comma-separated annotation value.
func names(v string) []string {
	var out []string
	for n := range strings.SplitSeq(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}
