// Package check renders daprshop's Kubernetes manifests (deploy/k8s) with the
// Kustomize API and checks them against the rest of the repository, so that
// what a user applies to a cluster was checked here first:
//
//   - every object decodes strictly into its Kubernetes API type or Dapr's own
//     CRD type (an unknown kind or field is an error, not a silent no-op);
//   - every app of the multi-app run file (dapr/dapr.yaml) runs as one
//     Deployment with the same app id and port, which is also the service's
//     own default (services/<app>/main.go), the same app-health settings, and
//     the environment the run file gives it;
//   - every Dapr component the local profile loads exists under the same name
//     and scopes, with the same outbox and actor-state settings; the
//     Subscriptions and the Resiliency are the local ones; each app's
//     Configuration carries the same access-control allow-list, mTLS, and
//     tracing to an in-cluster collector;
//   - every image is pinned; every container has probes, requests and limits
//     and a restrictive security context, the Dapr sidecar included: the
//     check runs Dapr 1.18.2's own injector code on each pod template;
//   - no secret is inlined: secrets are only referenced;
//   - PodDisruptionBudgets, autoscalers and NetworkPolicies are in place, and
//     the NetworkPolicies let in from outside only what reaches the gateway
//     (and Prometheus), and between apps only what access control allows.
//
// Each check is a function that returns Problems, each naming its check, so
// that tests can feed broken manifests and assert the exact mistake.
//
// This is a Go module of its own (go.mod): Kubernetes, Kustomize and Dapr's
// runtime types are a large dependency graph that the services' module, and
// its builds, must not carry. Its versions follow github.com/dapr/dapr
// v1.18.2's own graph (k8s.io/api v0.32.3, k8s.io/apimachinery v0.33.0,
// sigs.k8s.io/yaml v1.4.0); Kustomize is v0.19.0 of its API (kustomize
// 5.6.0, what kubectl 1.33 embeds), the newest that moves none of them.
package check
