package k8s

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/daprshop/daprshop/internal/daprproc"
)

// Ports of the Dapr control plane on the node. Sentry, the operator's API
// and the two webhooks are the chart's; health and metrics ports are the
// launcher's, apart from each other.
const (
	sentryPort          = 50001
	operatorPort        = 6500
	operatorWebhookPort = 19443
	injectorPort        = 4000
	placementPort       = 50005
	schedulerPort       = 50006
	// SidecarImage is the chart's daprd image, which the injector writes
	// into every pod it injects.
	SidecarImage = "ghcr.io/dapr/daprd:1.18.2"
	// sentryTokenPath is where Dapr's processes look for their projected
	// sentry token in a pod. The injector gives injected pods a token of
	// their own only when it has one there itself (it checks this path,
	// not DAPR_SENTRY_TOKEN_FILE), so the harness writes it: the namespace
	// has a private /run (Reexec), so the machine's is untouched.
	sentryTokenPath = "/var/run/secrets/dapr.io/sentrytoken/token"
)

// StartDapr installs Dapr's control plane objects (testdata/dapr-system.yaml:
// the chart's service accounts, RBAC, trust bundle, daprsystem
// Configuration, Services) and starts sentry (Kubernetes mode), then
// placement, the scheduler, the operator and the sidecar injector, each
// with its own service account's credentials, and registers the injector's
// webhook. It needs the controllers (Options.Controllers) and Dapr's CRDs.
func (c *Cluster) StartDapr(ctx context.Context) error {
	if !c.controllers {
		return errors.New("the Dapr control plane needs kube-controller-manager (Options.Controllers)")
	}
	daprBin := filepath.Join(c.Root, ".bin")
	for _, b := range []string{filepath.Join(daprBin, "sentry"), filepath.Join(daprBin, "placement"), filepath.Join(daprBin, "scheduler"), filepath.Join(c.bin, "operator"), filepath.Join(c.bin, "injector")} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%s not found: run `make tools k8s-tools` first", b)
		}
	}
	if _, _, err := c.Kubectl(ctx, "", "apply", "--server-side", "-f", filepath.Join(c.Root, "tests", "k8s", "testdata", "dapr-system.yaml")); err != nil {
		return err
	}
	dir := filepath.Join(c.Dir, "dapr")
	issuer := filepath.Join(dir, "issuer") // sentry watches it, even in Kubernetes mode
	if err := os.MkdirAll(issuer, 0o700); err != nil {
		return err
	}
	env := func(extra ...string) []string {
		return append(os.Environ(), append([]string{
			"NAMESPACE=dapr-system",
			// They refuse to run as root in Kubernetes mode; here they run
			// as the test, which needs root for its namespace.
			"DAPR_UNSAFE_SKIP_CONTAINER_UID_GID_CHECK=true",
		}, extra...)...)
	}

	kc, err := c.serviceAccountKubeconfig(ctx, dir, "dapr-sentry")
	if err != nil {
		return err
	}
	sentry := daprproc.Sentry{
		Port: sentryPort, HealthzPort: 58082, MetricsPort: 59092, Host: NodeIP,
		Config: "daprsystem", IssuerDir: issuer, TrustDomain: "cluster.local",
		Mode: "kubernetes", Kubeconfig: kc,
	}
	if err := c.run(ctx, sentry.Spec(filepath.Join(daprBin, "sentry"), dir, env())); err != nil {
		return err
	}
	anchors, err := c.trustAnchors(ctx, filepath.Join(dir, "ca.crt"))
	if err != nil {
		return err
	}

	if err := c.startActorServices(ctx, dir, anchors, env); err != nil {
		return err
	}

	operatorToken, err := c.sentryToken(ctx, dir, "dapr-operator", "dapr-operator-identity")
	if err != nil {
		return err
	}
	if kc, err = c.serviceAccountKubeconfig(ctx, dir, "dapr-operator"); err != nil {
		return err
	}
	operator := daprproc.Operator{Port: operatorPort, WebhookPort: operatorWebhookPort, HealthzPort: 58083, MetricsPort: 59093, Kubeconfig: kc, TrustAnchorsFile: anchors}
	if err := c.run(ctx, operator.Spec(filepath.Join(c.bin, "operator"), dir, env("DAPR_SENTRY_TOKEN_FILE="+operatorToken))); err != nil {
		return err
	}

	// The injector patches its webhook's caBundle: it must exist first.
	if _, _, err := c.Kubectl(ctx, "", "apply", "--server-side", "-f", filepath.Join(c.Root, "tests", "k8s", "testdata", "dapr-injector-webhook.yaml")); err != nil {
		return err
	}
	injectorToken, err := c.sentryToken(ctx, dir, "dapr-injector", "dapr-sidecar-injector-identity")
	if err != nil {
		return err
	}
	if err := copyFile(injectorToken, sentryTokenPath); err != nil {
		return err
	}
	if kc, err = c.serviceAccountKubeconfig(ctx, dir, "dapr-injector"); err != nil {
		return err
	}
	injector := daprproc.Injector{Port: injectorPort, HealthzPort: 58084, MetricsPort: 59094, Kubeconfig: kc}
	// The chart's environment (dapr_sidecar_injector_deployment.yaml), with
	// the guide's one change (docs/kubernetes.md, step 2): drop every
	// capability of the sidecars.
	injEnv := env(
		"DAPR_SENTRY_TOKEN_FILE="+injectorToken,
		"DAPR_TRUST_ANCHORS_FILE="+anchors,
		"DAPR_CONTROL_PLANE_TRUST_DOMAIN=cluster.local",
		fmt.Sprintf("DAPR_SENTRY_ADDRESS=%s:%d", NodeIP, sentryPort),
		"KUBE_CLUSTER_DOMAIN=cluster.local",
		"SIDECAR_IMAGE="+SidecarImage,
		"SIDECAR_IMAGE_PULL_POLICY=IfNotPresent",
		"SIDECAR_RUN_AS_NON_ROOT=true",
		"SIDECAR_READ_ONLY_ROOT_FILESYSTEM=true",
		"SIDECAR_DROP_ALL_CAPABILITIES=true",
		"ENABLE_K8S_DOWNWARD_APIS=false",
		"NATIVE_SIDECAR_ENABLED=false",
		"ACTORS_ENABLED=true",
		"ACTORS_SERVICE_NAME=placement",
		"ACTORS_SERVICE_ADDRESS=dapr-placement-server:50005",
	)
	if err := c.run(ctx, injector.Spec(filepath.Join(c.bin, "injector"), dir, injEnv)); err != nil {
		return err
	}
	// Ready means its webhook is registered with sentry's root.
	return poll(ctx, time.Minute, func() error {
		out, _, err := c.Kubectl(ctx, "", "get", "mutatingwebhookconfiguration", "dapr-sidecar-injector", "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}")
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) == "" {
			return errors.New("the injector has not patched its webhook's caBundle")
		}
		return nil
	})
}

// startActorServices starts placement and the scheduler on the node's
// address, each with a sentry token of its own identity pod.
func (c *Cluster) startActorServices(ctx context.Context, dir, anchors string, env func(...string) []string) error {
	tls := &daprproc.TLS{TrustDomain: "cluster.local", TrustAnchorsFile: anchors, SentryAddress: fmt.Sprintf("%s:%d", NodeIP, sentryPort)}
	token, err := c.sentryToken(ctx, dir, "dapr-placement", "dapr-placement-identity")
	if err != nil {
		return err
	}
	placement := daprproc.Placement{Host: NodeIP, Port: placementPort, HealthzPort: 58085, MetricsPort: 59095, RaftPort: 58086, TLS: tls, Kubernetes: true}
	if err := c.run(ctx, placement.Spec(filepath.Join(c.Root, ".bin", "placement"), dir, env("DAPR_SENTRY_TOKEN_FILE="+token))); err != nil {
		return err
	}
	if token, err = c.sentryToken(ctx, dir, "dapr-scheduler", "dapr-scheduler-identity"); err != nil {
		return err
	}
	kc, err := c.serviceAccountKubeconfig(ctx, dir, "dapr-scheduler")
	if err != nil {
		return err
	}
	scheduler := daprproc.Scheduler{
		Host: NodeIP, Port: schedulerPort, HealthzPort: 58087, MetricsPort: 59096,
		EtcdClientPort: 52379, EtcdPeerPort: 52380,
		EtcdDataDir: filepath.Join(dir, "scheduler-etcd"), IdentityDir: filepath.Join(dir, "scheduler-identity"),
		TLS: tls, Kubeconfig: kc,
	}
	return c.run(ctx, scheduler.Spec(filepath.Join(c.Root, ".bin", "scheduler"), dir, env("DAPR_SENTRY_TOKEN_FILE="+token)))
}

// serviceAccountKubeconfig writes a kubeconfig that acts as the service
// account (a token from the API server), so that each part of the control
// plane has exactly the chart's RBAC.
func (c *Cluster) serviceAccountKubeconfig(ctx context.Context, dir, sa string) (string, error) {
	token, _, err := c.Kubectl(ctx, "", "-n", "dapr-system", "create", "token", sa, "--duration=2h")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, sa+".kubeconfig")
	return path, c.pki.tokenKubeconfig(path, sa, strings.TrimSpace(token), "https://"+NodeIP+":6443")
}

// sentryToken writes a token for the service account bound to its identity
// pod, with sentry's audience: what a pod's projected sentry token is.
func (c *Cluster) sentryToken(ctx context.Context, dir, sa, pod string) (string, error) {
	token, _, err := c.Kubectl(ctx, "", "-n", "dapr-system", "create", "token", sa,
		"--audience=spiffe://cluster.local/ns/dapr-system/dapr-sentry",
		"--bound-object-kind=Pod", "--bound-object-name="+pod, "--duration=2h")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, sa+".sentry-token")
	return path, os.WriteFile(path, []byte(strings.TrimSpace(token)), 0o600)
}

// trustAnchors waits until sentry has written its root into the
// dapr-trust-bundle ConfigMap, and copies it to path.
func (c *Cluster) trustAnchors(ctx context.Context, path string) (string, error) {
	err := poll(ctx, time.Minute, func() error {
		out, _, err := c.Kubectl(ctx, "", "-n", "dapr-system", "get", "configmap", "dapr-trust-bundle", "-o", `jsonpath={.data.ca\.crt}`)
		if err != nil {
			return err
		}
		if !strings.Contains(out, "BEGIN CERTIFICATE") {
			return errors.New("sentry has not written its root into the dapr-trust-bundle ConfigMap")
		}
		return os.WriteFile(path, []byte(out), 0o600)
	})
	return path, err
}

// poll runs f until it returns nil, an error wrapped in stopPolling, or
// within is over (its last error).
func poll(ctx context.Context, within time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		if stop, ok := err.(stopPolling); ok {
			return stop.error
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up after %s)", err, within)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stopPolling ends a poll at once with its error.
type stopPolling struct{ error }

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}

// tokenKubeconfig writes a kubeconfig for a bearer token.
func (p *pki) tokenKubeconfig(path, user, token, server string) error {
	ca, err := os.ReadFile(p.path("ca.crt"))
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: daprshop
  cluster: {server: %q, certificate-authority-data: %s}
users:
- name: %s
  user: {token: %q}
contexts:
- name: daprshop
  context: {cluster: daprshop, user: %s}
current-context: daprshop
`, server, base64.StdEncoding.EncodeToString(ca), user, token, user)
	return os.WriteFile(path, []byte(cfg), 0o600)
}
