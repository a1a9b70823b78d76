package check

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
)

// edgeSet renders the overlay with Traefik or Kong in front and decodes it.
func edgeSet(t *testing.T, overlay string) *Set {
	t.Helper()
	out, err := Render(filepath.Join(repoRoot(t), "deploy", "k8s", "overlays", overlay))
	require.NoError(t, err)
	set, problems := Decode(out)
	require.Empty(t, problems)
	return set
}

func ingress(t *testing.T, s *Set) *networkingv1.Ingress {
	return named[*networkingv1.Ingress](t, s, "gateway")
}

// TestBrokenEdge breaks the Traefik and Kong overlays the ways a user might,
// and asserts checkEdge names each.
func TestBrokenEdge(t *testing.T) {
	t.Parallel()
	repo := readRepo(t)
	cases := []struct {
		name, overlay string
		break_        func(t *testing.T, s *Set)
		want          []want
	}{
		{
			name: "a middleware the Ingress names is missing", overlay: "traefik",
			break_: func(t *testing.T, s *Set) { remove(t, s, "Middleware", "edge-rate-limit") },
			want: []want{
				{CheckNetwork, "Ingress/gateway", "names Middleware daprshop-edge-rate-limit@kubernetescrd, which the overlay does not hold"},
				{CheckNetwork, "Ingress/gateway", "no rate limit per client address"},
			},
		},
		{
			name: "a middleware named without its provider", overlay: "traefik",
			break_: func(t *testing.T, s *Set) {
				ingress(t, s).Annotations[traefikMiddlewares] = "daprshop-edge-rate-limit,daprshop-edge-body-limit@kubernetescrd"
			},
			want: []want{{CheckNetwork, "Ingress/gateway", `middleware "daprshop-edge-rate-limit" is not one of the namespace's Middlewares`}},
		},
		{
			name: "the edge's body limit is not the gateway's", overlay: "traefik",
			break_: func(t *testing.T, s *Set) {
				named[*TraefikMiddleware](t, s, "edge-body-limit").Spec.Buffering.MaxRequestBodyBytes = 10 << 20
			},
			want: []want{{CheckNetwork, "Ingress/gateway", "limits bodies to 10485760 bytes; the gateway's limit is 1048576"}},
		},
		{
			name: "Kong's annotation on Traefik's Ingress", overlay: "traefik",
			break_: func(t *testing.T, s *Set) { ingress(t, s).Annotations[kongPluginsKey] = "edge-rate-limit" },
			want:   []want{{CheckNetwork, "Ingress/gateway", "with the other controller's annotations"}},
		},
		{
			name: "a plugin the Ingress names is missing", overlay: "kong",
			break_: func(t *testing.T, s *Set) { remove(t, s, "KongPlugin", "edge-body-limit") },
			want: []want{
				{CheckNetwork, "Ingress/gateway", "names KongPlugin edge-body-limit, which the overlay does not hold"},
				{CheckNetwork, "Ingress/gateway", "no body limit"},
			},
		},
		{
			name: "authentication at the edge", overlay: "kong",
			break_: func(t *testing.T, s *Set) {
				p := named[*KongPlugin](t, s, "edge-rate-limit")
				p.Plugin, p.Config = "jwt", map[string]any{"claims_to_verify": []any{"exp"}}
			},
			want: []want{
				{CheckNetwork, "Ingress/gateway", "KongPlugin edge-rate-limit runs jwt at the edge: authentication stays in the gateway"},
				{CheckNetwork, "Ingress/gateway", "no rate limit per client address"},
			},
		},
		{
			name: "a rate limit per consumer, not per address", overlay: "kong",
			break_: func(t *testing.T, s *Set) {
				named[*KongPlugin](t, s, "edge-rate-limit").Config["limit_by"] = "consumer"
			},
			want: []want{{CheckNetwork, "Ingress/gateway", "limits by consumer: the edge's limit is per client address"}},
		},
		{
			name: "a config field the check does not know", overlay: "kong",
			break_: func(t *testing.T, s *Set) { named[*KongPlugin](t, s, "edge-body-limit").Config["allowed_payload"] = 5 },
			want:   []want{{CheckNetwork, "Ingress/gateway", `request-size-limiting has no config field "allowed_payload"`}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			set := edgeSet(t, tc.overlay)
			tc.break_(t, set)
			requireProblems(t, CheckSystem(set, repo, GuideInjector), tc.want)
		})
	}
}

// TestEdgeDecodesStrictly: a middleware this check does not know (an auth
// one) is a decode problem, not a silent addition.
func TestEdgeDecodesStrictly(t *testing.T) {
	t.Parallel()
	doc := []byte("apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata:\n  name: auth\nspec:\n  forwardAuth:\n    address: http://auth\n")
	_, problems := Decode(doc)
	requireProblems(t, problems, []want{{CheckDecode, "Middleware/auth", "forwardAuth"}})
}
