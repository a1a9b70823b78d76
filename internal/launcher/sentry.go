package launcher

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/daprshop/daprshop/internal/daprproc"
	"github.com/daprshop/daprshop/internal/proc"
)

// Sentry, the Dapr certificate authority, gives every sidecar (and placement
// and scheduler) the certificate of its SPIFFE identity, which mTLS and
// access control policies need. Its gRPC port is 50001, sentry's own default
// and the address the Dapr CLI gives a daprd whose Configuration enables
// mTLS (localhost:50001, not configurable), so the sentry a CLI user starts
// by hand is the one the run file expects. Its health and metrics ports sit
// next to placement's and scheduler's.
const (
	sentryPort        = 50001
	sentryHealthzPort = 58082
	sentryMetricsPort = 59092
	// controlPlaneTrustDomain is the trust domain of sentry's, placement's
	// and scheduler's own identities: the default of each of them and of
	// daprd's --control-plane-trust-domain, written out so that it stays
	// the same everywhere. (Apps are signed into the trust domain "public".)
	controlPlaneTrustDomain = "localhost"
	// trustAnchorsEnv carries the root certificate to daprd, which takes it
	// only from its environment (placement and scheduler read a file).
	trustAnchorsEnv = "DAPR_TRUST_ANCHORS"
	// trustAnchorsFileName is where sentry keeps the root certificate in its
	// issuer credentials folder, next to issuer.crt and issuer.key.
	trustAnchorsFileName = "ca.crt"
)

// sentryAddr is the address daprd, placement and scheduler reach sentry at.
var sentryAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(sentryPort))

// configEnablesMTLS reports whether the Dapr Configuration at path sets
// spec.mtls.enabled. A self-hosted daprd ignores that field; the Dapr CLI
// reads it and then passes daprd --enable-mtls and sentry's address, and the
// launcher does the same. No file means daprd's defaults: no mTLS.
func configEnablesMTLS(path string) (bool, error) {
	if path == "" {
		return false, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("read Dapr Configuration: %w", err)
	}
	var c struct {
		Spec struct {
			MTLS struct {
				Enabled bool `yaml:"enabled"`
			} `yaml:"mtls"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return false, fmt.Errorf("parse Dapr Configuration %s: %w", path, err)
	}
	return c.Spec.MTLS.Enabled, nil
}

// mtlsMode says whether the system runs with mTLS: when every app's
// Configuration enables it. Placement and scheduler serve TLS to every
// sidecar or to none, so a mix is refused, naming the apps without it.
func mtlsMode(apps []App) (bool, error) {
	var on, off []string
	for _, a := range apps {
		enabled, err := configEnablesMTLS(a.ConfigFile)
		if err != nil {
			return false, fmt.Errorf("app %q: %w", a.AppID, err)
		}
		if enabled {
			on = append(on, a.AppID)
		} else {
			off = append(off, a.AppID)
		}
	}
	if len(on) > 0 && len(off) > 0 {
		return false, fmt.Errorf("the Dapr Configurations of %s enable mTLS but those of %s do not: set spec.mtls.enabled the same in every app's Configuration (placement and scheduler speak TLS to every sidecar or to none)",
			strings.Join(on, ", "), strings.Join(off, ", "))
	}
	return len(on) > 0, nil
}

// sentryDir holds sentry's issuer credentials (ca.crt, issuer.crt,
// issuer.key). In self-hosted mode sentry creates a self-signed root and
// issuer there when the folder holds none, and reuses them afterwards; a
// fresh start (Config.Fresh) therefore means a new root.
func (s *System) sentryDir() string {
	return filepath.Join(s.DataDir(), "sentry")
}

func (s *System) trustAnchorsFile() string {
	return filepath.Join(s.sentryDir(), trustAnchorsFileName)
}

// sentrySpec runs sentry on loopback. It reads spec.mtls (certificate
// lifetime, clock skew) from the run file's common Configuration, the role
// the "daprsystem" Configuration has in Kubernetes; sentry exits without
// one. Its self-hosted validator signs any app id asked for, so its port
// must stay on loopback.
func (s *System) sentrySpec(bin, config string) proc.Spec {
	return daprproc.Sentry{
		Port: sentryPort, HealthzPort: sentryHealthzPort, MetricsPort: sentryMetricsPort,
		Config: config, IssuerDir: s.sentryDir(), TrustDomain: controlPlaneTrustDomain,
	}.Spec(bin, s.cfg.RootDir, os.Environ())
}

// controlPlaneTLS makes placement and scheduler take their identity from
// sentry and serve mTLS. They read the root certificate from sentry's
// folder, so they start once sentry has written it.
func (s *System) controlPlaneTLS() *daprproc.TLS {
	return &daprproc.TLS{
		TrustDomain:      controlPlaneTrustDomain,
		TrustAnchorsFile: s.trustAnchorsFile(),
		SentryAddress:    sentryAddr,
	}
}

// trustSidecars gives every daprd the root certificate sentry has written,
// the way to trust sentry, placement, scheduler and the other sidecars.
func (s *System) trustSidecars(specs map[string]proc.Spec) error {
	anchors, err := readTrustAnchors(s.trustAnchorsFile())
	if err != nil {
		return err
	}
	names := make([]string, 0, len(specs))
	for n := range specs {
		if strings.HasSuffix(n, ".daprd") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		spec := specs[n]
		spec.Env = mergeEnv(spec.Env, map[string]string{trustAnchorsEnv: string(anchors)})
		specs[n] = spec
	}
	return nil
}

// readTrustAnchors reads a PEM file that must hold at least one certificate
// and nothing else.
func readTrustAnchors(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sentry's root certificate: %w", err)
	}
	rest, n := b, 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: holds a %s, want certificates only", path, block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		n++
	}
	if n == 0 {
		return nil, errors.New(path + ": no PEM certificate in it")
	}
	return b, nil
}

// Join makes d a sidecar of the running system as another app's would be:
// the system's placement and scheduler and, when the apps run with mTLS,
// sentry's identity, with the variable holding its root certificate to add
// to daprd's environment. The benchmark hosts its no-op workflow so, on
// the control plane and the security of the system it compares with.
func (s *System) Join(d daprproc.Daprd) (daprproc.Daprd, []string, error) {
	if len(s.apps) == 0 {
		return d, nil, errors.New("join the system: it has no apps")
	}
	a := s.apps[0]
	d.Placement = controlPlaneAddr(a.PlacementHostAddr, 50005)
	d.Scheduler = controlPlaneAddr(a.SchedulerHostAddr, 50006)
	if !s.mtls {
		return d, nil, nil
	}
	anchors, err := readTrustAnchors(s.trustAnchorsFile())
	if err != nil {
		return d, nil, fmt.Errorf("join the system: %w", err)
	}
	d.SentryAddress = sentryAddr
	return d, []string{trustAnchorsEnv + "=" + string(anchors)}, nil
}
