package launcher

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/proc"
)

func TestObserveSpecs(t *testing.T) {
	t.Parallel()
	found := func(string) (string, error) { return "/usr/bin/prometheus", nil }
	missing := func(string) (string, error) { return "", errors.New("not found") }
	tests := []struct {
		name       string
		jaeger     bool // .bin/jaeger exists
		promConfig bool // deploy/observability/prometheus.yml exists
		lookPath   func(string) (string, error)
		wantNames  []string
		wantErr    string
		wantLog    string
	}{
		{
			name: "jaeger and prometheus", jaeger: true, promConfig: true, lookPath: found,
			wantNames: []string{"jaeger", "prometheus"},
		},
		{
			name: "prometheus not installed: told how to install it", jaeger: true, promConfig: true, lookPath: missing,
			wantNames: []string{"jaeger"},
			wantLog:   "prometheus is not installed, so the system starts without it; to have it: apt-get install prometheus",
		},
		{
			name: "no prometheus.yml: told", jaeger: true, lookPath: found,
			wantNames: []string{"jaeger"},
			wantLog:   "deploy/observability/prometheus.yml is missing, so prometheus does not start",
		},
		{
			name: "jaeger not built", promConfig: true, lookPath: found,
			wantErr: "jaeger not found in",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root, bin := t.TempDir(), t.TempDir()
			if tt.jaeger {
				require.NoError(t, os.WriteFile(filepath.Join(bin, "jaeger"), []byte("#!/bin/sh\n"), 0o755))
			}
			if tt.promConfig {
				writeFiles(t, root, map[string]string{prometheusConfigFile: "scrape_configs: []\n"})
			}
			var log bytes.Buffer
			s := &System{
				cfg:      Config{RootDir: root, BinDir: bin, Profile: "local"},
				out:      proc.NewLines(&log, "launcher"),
				lookPath: tt.lookPath,
			}

			specs, err := s.observeSpecs()

			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.ErrorContains(t, err, "make observe-tools")
				return
			}
			require.NoError(t, err)
			var names []string
			for _, spec := range specs {
				names = append(names, spec.Name)
				assert.NotNil(t, spec.Ready, spec.Name)
			}
			assert.Equal(t, tt.wantNames, names)
			if tt.wantLog == "" {
				assert.Empty(t, log.String())
			} else {
				assert.Contains(t, log.String(), tt.wantLog)
			}
		})
	}
}

// TestObserveSpecsArgs pins what the rest of the system relies on: the
// OTLP ports every app and sidecar sends to, loopback listeners, and
// Prometheus's files under the repository and the profile's data folder.
func TestObserveSpecsArgs(t *testing.T) {
	t.Parallel()
	root, bin := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bin, "jaeger"), []byte("#!/bin/sh\n"), 0o755))
	writeFiles(t, root, map[string]string{prometheusConfigFile: "scrape_configs: []\n"})
	s := &System{
		cfg:      Config{RootDir: root, BinDir: bin, Profile: "test"},
		out:      proc.NewLines(&bytes.Buffer{}, "launcher"),
		lookPath: func(string) (string, error) { return "/usr/bin/prometheus", nil },
	}

	specs, err := s.observeSpecs()

	require.NoError(t, err)
	require.Len(t, specs, 2)
	jaeger, prom := specs[0], specs[1]
	assert.Equal(t, filepath.Join(bin, "jaeger"), jaeger.Path)
	assert.Equal(t, []string{"--config", filepath.Join(root, "tools", "observe", "jaeger.yaml")}, jaeger.Args)
	assert.Equal(t, root, jaeger.Dir)
	assert.Equal(t, filepath.Join(root, "tools", "observe", "ui"), effectiveEnv(jaeger.Env)["JAEGER_UI_ASSETS"])
	assert.Equal(t, []proc.Port{
		{Port: 4317, What: "jaeger OTLP/gRPC"}, {Port: 4318, What: "jaeger OTLP/HTTP"},
		{Port: 16686, What: "jaeger UI and query API"}, {Port: 16685, What: "jaeger query gRPC"}, {Port: 13133, What: "jaeger health"},
		{Port: 9411, What: "jaeger Zipkin receiver"},
	}, jaeger.Ports)

	assert.Equal(t, "/usr/bin/prometheus", prom.Path)
	assert.Equal(t, []string{
		"--config.file=" + filepath.Join(root, "deploy", "observability", "prometheus.yml"),
		"--web.listen-address=127.0.0.1:9090",
		"--storage.tsdb.path=" + filepath.Join(root, ".data", "test", "prometheus"),
	}, prom.Args)
	assert.Equal(t, []proc.Port{{Port: 9090, What: "prometheus"}}, prom.Ports)
}

// TestPlanStartsObserversFirst checks that the observability tools get the
// first tier (so they stop last), and nothing changes without Observe.
func TestPlanStartsObserversFirst(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		observe   bool
		wantTiers [][]string
	}{
		{
			name:      "with observe",
			observe:   true,
			wantTiers: [][]string{{"jaeger", "prometheus"}, {"placement", "scheduler"}, {"a.daprd"}, {"a"}},
		},
		{
			name:      "without observe",
			wantTiers: [][]string{{"placement", "scheduler"}, {"a.daprd"}, {"a"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			writeFiles(t, root, map[string]string{
				"dapr/config.yaml":   noMTLSConfig,
				"components/test/":   "",
				prometheusConfigFile: "scrape_configs: []\n",
			})
			a := testApp()
			a.AppID, a.AppDirPath = "a", root
			a.ConfigFile = filepath.Join(root, "dapr", "config.yaml")
			a.ResourcesPaths = []string{filepath.Join(root, "components", "test")}
			bin := fakeDaprBinaries(t)
			require.NoError(t, os.WriteFile(filepath.Join(bin, "jaeger"), []byte("#!/bin/sh\n"), 0o755))
			s := &System{
				cfg:      Config{RootDir: root, Profile: "test", BinDir: bin, Observe: tt.observe},
				apps:     []App{a},
				out:      proc.NewLines(&bytes.Buffer{}, "launcher"),
				lookPath: func(string) (string, error) { return "/usr/bin/prometheus", nil },
			}

			specs, err := s.plan(context.Background())

			require.NoError(t, err)
			assert.Equal(t, tt.wantTiers, s.tiers)
			for _, tier := range s.tiers {
				for _, n := range tier {
					assert.Contains(t, specs, n)
				}
			}
		})
	}
}

func TestObservers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		procs []string
		want  []Observer
	}{
		{name: "none", procs: []string{"gateway", "nats"}},
		{
			name:  "jaeger alone",
			procs: []string{"jaeger", "gateway"},
			want:  []Observer{{"jaeger", "http://127.0.0.1:16686"}},
		},
		{
			name:  "both, jaeger first",
			procs: []string{"prometheus", "jaeger"},
			want:  []Observer{{"jaeger", "http://127.0.0.1:16686"}, {"prometheus", "http://127.0.0.1:9090"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &System{procs: map[string]*proc.Process{}}
			for _, n := range tt.procs {
				s.procs[n] = &proc.Process{}
			}
			assert.Equal(t, tt.want, s.Observers())
		})
	}
}
