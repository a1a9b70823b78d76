package launcher

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/daprproc"

	"github.com/daprshop/daprshop/internal/proc"
)

const (
	mtlsOnConfig = `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: on
spec:
  mtls:
    enabled: true
  accessControl:
    defaultAction: deny
`
	mtlsOffConfig = `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: off
spec:
  mtls:
    enabled: false
`
	noMTLSConfig = `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: plain
spec:
  nameResolution:
    component: sqlite
`
)

func TestConfigEnablesMTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"on.yaml":    mtlsOnConfig,
		"off.yaml":   mtlsOffConfig,
		"plain.yaml": noMTLSConfig,
		"bad.yaml":   "spec: [not, a, map",
	})
	tests := []struct {
		name    string
		path    string
		want    bool
		wantErr string
	}{
		{name: "enabled", path: filepath.Join(dir, "on.yaml"), want: true},
		{name: "disabled", path: filepath.Join(dir, "off.yaml")},
		{name: "no mtls section", path: filepath.Join(dir, "plain.yaml")},
		{name: "no Configuration means daprd's defaults", path: ""},
		{name: "missing file", path: filepath.Join(dir, "missing.yaml"), wantErr: "read Dapr Configuration"},
		{name: "not YAML", path: filepath.Join(dir, "bad.yaml"), wantErr: "parse Dapr Configuration " + filepath.Join(dir, "bad.yaml")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := configEnablesMTLS(tt.path)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestMTLSMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"on.yaml": mtlsOnConfig, "off.yaml": mtlsOffConfig})
	on, off := filepath.Join(dir, "on.yaml"), filepath.Join(dir, "off.yaml")
	app := func(id, config string) App {
		return App{AppSettings: AppSettings{AppID: id, SharedSettings: SharedSettings{ConfigFile: config}}}
	}
	tests := []struct {
		name    string
		apps    []App
		want    bool
		wantErr []string
	}{
		{name: "every app enables mTLS", apps: []App{app("a", on), app("b", on)}, want: true},
		{name: "no app enables mTLS", apps: []App{app("a", off), app("b", "")}},
		{
			name:    "a mix is refused, naming both sides",
			apps:    []App{app("a", on), app("b", off), app("c", ""), app("d", on)},
			wantErr: []string{"of a, d enable mTLS but those of b, c do not", "spec.mtls.enabled"},
		},
		{
			name:    "an unreadable Configuration names its app",
			apps:    []App{app("a", on), app("b", filepath.Join(dir, "missing.yaml"))},
			wantErr: []string{`app "b": read Dapr Configuration`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := mtlsMode(tt.apps)
			if len(tt.wantErr) > 0 {
				for _, want := range tt.wantErr {
					assert.ErrorContains(t, err, want)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSentrySpec(t *testing.T) {
	t.Parallel()
	s := &System{cfg: Config{RootDir: "/repo", Profile: "local"}}

	spec := s.sentrySpec("/repo/.bin/sentry", "/repo/dapr/config.yaml")

	assert.Equal(t, "sentry", spec.Name)
	assert.Equal(t, "/repo/.bin/sentry", spec.Path)
	assert.Equal(t, []string{
		"--log-level=info",
		"--mode=standalone",
		"--config=/repo/dapr/config.yaml",
		"--issuer-credentials=/repo/.data/local/sentry",
		"--trust-domain=localhost",
		"--port=50001",
		"--listen-address=127.0.0.1",
		"--healthz-port=58082",
		"--healthz-listen-address=127.0.0.1",
		"--metrics-port=59092",
		"--metrics-listen-address=127.0.0.1",
	}, spec.Args)
	assert.Equal(t, []proc.Port{{Port: 50001, What: "sentry gRPC"}, {Port: 58082, What: "sentry healthz"}, {Port: 59092, What: "sentry metrics"}}, spec.Ports)
	assert.NotNil(t, spec.Ready)
}

// fakeDaprBinaries makes a BinDir in which findDaprBinary finds every Dapr
// binary.
func fakeDaprBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"daprd", "placement", "scheduler", "sentry"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755))
	}
	return dir
}

func TestControlPlaneSpecsMTLS(t *testing.T) {
	t.Parallel()
	mtlsArgs := []string{
		"--tls-enabled",
		"--trust-domain=localhost",
		"--trust-anchors-file=/repo/.data/local/sentry/ca.crt",
		"--sentry-address=127.0.0.1:50001",
	}
	for _, mtls := range []bool{true, false} {
		t.Run(map[bool]string{true: "with mTLS", false: "without mTLS"}[mtls], func(t *testing.T) {
			t.Parallel()
			s := &System{
				cfg:  Config{RootDir: "/repo", Profile: "local", BinDir: fakeDaprBinaries(t)},
				apps: []App{testApp()},
				mtls: mtls,
			}

			placement, scheduler, err := s.controlPlaneSpecs()

			require.NoError(t, err)
			for _, spec := range []proc.Spec{placement, scheduler} {
				for _, arg := range mtlsArgs {
					if mtls {
						assert.Contains(t, spec.Args, arg, spec.Name)
					} else {
						assert.NotContains(t, spec.Args, arg, spec.Name)
					}
				}
			}
		})
	}
}

func TestDaprdSpecMTLS(t *testing.T) {
	t.Parallel()
	for _, mtls := range []bool{true, false} {
		t.Run(map[bool]string{true: "with mTLS", false: "without mTLS"}[mtls], func(t *testing.T) {
			t.Parallel()
			s := &System{cfg: Config{RootDir: "/repo"}, mtls: mtls}

			spec := s.daprdSpec(testApp(), "daprd")

			for _, arg := range []string{"--enable-mtls", "--sentry-address=127.0.0.1:50001"} {
				if mtls {
					assert.Contains(t, spec.Args, arg)
				} else {
					assert.NotContains(t, spec.Args, arg)
				}
			}
		})
	}
}

// selfSignedPEM returns a PEM-encoded self-signed CA certificate.
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test root"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestTrustSidecars(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s := &System{cfg: Config{RootDir: root, Profile: "local"}}
	anchors := append(selfSignedPEM(t), selfSignedPEM(t)...) // a root being rotated: two
	writeFiles(t, root, map[string]string{".data/local/sentry/ca.crt": string(anchors)})
	specs := map[string]proc.Spec{
		"users.daprd": {Name: "users.daprd", Env: []string{"A=1", trustAnchorsEnv + "=stale"}},
		"gw.daprd":    {Name: "gw.daprd"},
		"users":       {Name: "users", Env: []string{"A=1"}},
		"placement":   {Name: "placement"},
	}

	require.NoError(t, s.trustSidecars(specs))

	for _, n := range []string{"users.daprd", "gw.daprd"} {
		assert.Equal(t, string(anchors), effectiveEnv(specs[n].Env)[trustAnchorsEnv], n)
	}
	assert.Equal(t, "1", effectiveEnv(specs["users.daprd"].Env)["A"], "the rest of the environment is kept")
	for _, n := range []string{"users", "placement"} {
		assert.NotContains(t, effectiveEnv(specs[n].Env), trustAnchorsEnv, "%s does not need it", n)
	}
}

func TestReadTrustAnchors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert := selfSignedPEM(t)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not for sidecars")})
	badCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")})
	writeFiles(t, dir, map[string]string{
		"ok.crt":      string(cert),
		"key.crt":     string(cert) + string(keyPEM),
		"garbage.crt": string(badCert),
		"empty.crt":   "",
	})
	tests := []struct {
		file    string
		wantErr string
	}{
		{file: "ok.crt"},
		{file: "key.crt", wantErr: "holds a PRIVATE KEY, want certificates only"},
		{file: "garbage.crt", wantErr: "garbage.crt: x509"},
		{file: "empty.crt", wantErr: "no PEM certificate in it"},
		{file: "missing.crt", wantErr: "read sentry's root certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := readTrustAnchors(filepath.Join(dir, tt.file))
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, cert, got)
		})
	}
}

// TestPlanStartsSentryFirst checks the start order: sentry has its own tier
// before placement and scheduler, which (like every daprd) need its root
// certificate; without mTLS there is no sentry at all.
func TestPlanStartsSentryFirst(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		configs   [2]string // of apps a and b
		wantTiers [][]string
		wantErr   string
	}{
		{
			name:      "with mTLS",
			configs:   [2]string{mtlsOnConfig, mtlsOnConfig},
			wantTiers: [][]string{{"sentry"}, {"placement", "scheduler"}, {"a.daprd", "b.daprd"}, {"a", "b"}},
		},
		{
			name:      "without mTLS",
			configs:   [2]string{mtlsOffConfig, noMTLSConfig},
			wantTiers: [][]string{{"placement", "scheduler"}, {"a.daprd", "b.daprd"}, {"a", "b"}},
		},
		{
			name:    "a mix",
			configs: [2]string{mtlsOnConfig, mtlsOffConfig},
			wantErr: "of a enable mTLS but those of b do not",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			writeFiles(t, root, map[string]string{
				"dapr/config.yaml":   mtlsOnConfig,
				"dapr/config/a.yaml": tt.configs[0],
				"dapr/config/b.yaml": tt.configs[1],
				"components/test/":   "",
			})
			var apps []App
			for i, id := range []string{"a", "b"} {
				a := testApp()
				a.AppID, a.AppDirPath = id, root
				a.ConfigFile = filepath.Join(root, "dapr", "config", id+".yaml")
				a.CommonConfigFile = filepath.Join(root, "dapr", "config.yaml")
				a.ResourcesPaths = []string{filepath.Join(root, "components", "test")}
				a.AppPort, a.HTTPPort = 8080+i, 3500+i
				apps = append(apps, a)
			}
			s := &System{cfg: Config{RootDir: root, Profile: "test", BinDir: fakeDaprBinaries(t)}, apps: apps}

			specs, err := s.plan(context.Background())

			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantTiers, s.tiers)
			assert.Equal(t, slices.Concat(tt.wantTiers...), s.Processes(), "every process, in start order")
			for _, tier := range s.tiers {
				for _, n := range tier {
					assert.Contains(t, specs, n)
				}
			}
			if sentry, ok := specs["sentry"]; ok {
				assert.Contains(t, sentry.Args, "--config="+filepath.Join(root, "dapr", "config.yaml"), "the common Configuration")
				assert.Contains(t, sentry.Args, "--issuer-credentials="+filepath.Join(root, ".data", "test", "sentry"))
				assert.Equal(t, "sentry", filepath.Base(sentry.Path))
			}
		})
	}
}

func TestJoin(t *testing.T) {
	root := t.TempDir()
	anchors := selfSignedPEM(t)
	tests := []struct {
		name          string
		s             *System
		anchorsOnDisk bool
		wantPlacement string
		wantScheduler string
		wantSentry    string
		wantEnv       []string
		wantErr       string
	}{
		{name: "without mTLS: the control plane only", s: &System{apps: []App{{}}},
			wantPlacement: "127.0.0.1:50005", wantScheduler: "127.0.0.1:50006"},
		{name: "the run file's control plane", s: &System{apps: []App{{AppSettings: AppSettings{SharedSettings: SharedSettings{PlacementHostAddr: "127.0.0.1:51005", SchedulerHostAddr: "localhost"}}}}},
			wantPlacement: "127.0.0.1:51005", wantScheduler: "localhost:50006"},
		{name: "with mTLS: sentry and its root certificate", s: &System{apps: []App{{}}, mtls: true}, anchorsOnDisk: true,
			wantPlacement: "127.0.0.1:50005", wantScheduler: "127.0.0.1:50006", wantSentry: sentryAddr,
			wantEnv: []string{"DAPR_TRUST_ANCHORS=" + string(anchors)}},
		{name: "with mTLS before sentry wrote its root: refused", s: &System{apps: []App{{}}, mtls: true},
			wantErr: "read sentry's root certificate"},
		{name: "no apps: refused", s: &System{}, wantErr: "it has no apps"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.s.cfg = Config{RootDir: filepath.Join(root, strconv.Itoa(i)), Profile: "local"}
			if tt.anchorsOnDisk {
				require.NoError(t, os.MkdirAll(tt.s.sentryDir(), 0o700))
				require.NoError(t, os.WriteFile(tt.s.trustAnchorsFile(), anchors, 0o600))
			}
			d, env, err := tt.s.Join(daprproc.Daprd{AppID: "benchnoop"})
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "benchnoop", d.AppID)
			assert.Equal(t, tt.wantPlacement, d.Placement)
			assert.Equal(t, tt.wantScheduler, d.Scheduler)
			assert.Equal(t, tt.wantSentry, d.SentryAddress)
			assert.Equal(t, tt.wantEnv, env)
		})
	}
}
