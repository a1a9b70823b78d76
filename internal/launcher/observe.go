package launcher

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/daprshop/daprshop/internal/proc"
)

// Ports of the observability tools (Config.Observe). The OTLP ports are the
// ones every app (OTEL_EXPORTER_OTLP_ENDPOINT) and every sidecar (the
// Configuration's tracing.otel endpointAddress) sends traces to; the others
// are the tools' defaults, bound to loopback.
const (
	otlpGRPCPort        = 4317
	otlpHTTPPort        = 4318
	jaegerUIPort        = 16686 // query API (/api/...) and UI
	jaegerQueryGRPCPort = 16685
	jaegerHealthPort    = 13133
	prometheusPort      = 9090
	zipkinPort          = 9411 // Jaeger's Zipkin receiver (tools/observe/jaeger.yaml; dapr/tracing/zipkin.yaml)
)

// Files the observability tools read, relative to the repository root.
const (
	jaegerConfigFile     = "tools/observe/jaeger.yaml"
	prometheusConfigFile = "deploy/observability/prometheus.yml"
)

// Observer is a tool started with Config.Observe, and the address a user
// opens in a browser to look at what it collected.
type Observer struct {
	Name string
	URL  string
}

// Observers lists the observability tools that run, in start order.
func (s *System) Observers() []Observer {
	var obs []Observer
	if _, ok := s.procs["jaeger"]; ok {
		obs = append(obs, Observer{"jaeger", fmt.Sprintf("http://127.0.0.1:%d", jaegerUIPort)})
	}
	if _, ok := s.procs["prometheus"]; ok {
		obs = append(obs, Observer{"prometheus", fmt.Sprintf("http://127.0.0.1:%d", prometheusPort)})
	}
	return obs
}

// observeSpecs plans the trace backend (Jaeger, built by `make
// observe-tools`) and, when it is installed, Prometheus. They start before
// everything else, so that they see every process from its first span and
// scrape, and stop last, so that the spans of the shutdown reach them too.
// Jaeger is required once asked for; Prometheus comes from the system's
// packages, so its absence is only told, and the system starts without it.
func (s *System) observeSpecs() ([]proc.Spec, error) {
	jaegerBin := filepath.Join(s.cfg.BinDir, "jaeger")
	if _, err := os.Stat(jaegerBin); err != nil {
		return nil, fmt.Errorf("jaeger not found in %s: run `make observe-tools` first (or start without -observe)", s.cfg.BinDir)
	}
	specs := []proc.Spec{{
		Name: "jaeger",
		Path: jaegerBin,
		Args: []string{"--config", filepath.Join(s.cfg.RootDir, jaegerConfigFile)},
		Dir:  s.cfg.RootDir,
		Env: mergeEnv(os.Environ(), map[string]string{
			"JAEGER_UI_ASSETS": filepath.Join(s.cfg.RootDir, "tools", "observe", "ui"),
		}),
		Ports: []proc.Port{
			{Port: otlpGRPCPort, What: "jaeger OTLP/gRPC"}, {Port: otlpHTTPPort, What: "jaeger OTLP/HTTP"},
			{Port: jaegerUIPort, What: "jaeger UI and query API"}, {Port: jaegerQueryGRPCPort, What: "jaeger query gRPC"},
			{Port: jaegerHealthPort, What: "jaeger health"}, {Port: zipkinPort, What: "jaeger Zipkin receiver"},
		},
		Ready: proc.HTTP(fmt.Sprintf("http://127.0.0.1:%d/status", jaegerHealthPort)),
	}}

	lookPath := s.lookPath
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	promBin, err := lookPath("prometheus")
	if err != nil {
		s.out.System("prometheus is not installed, so the system starts without it; to have it: apt-get install prometheus (Debian, Ubuntu), or put a prometheus binary on PATH")
		return specs, nil
	}
	promConfig := filepath.Join(s.cfg.RootDir, prometheusConfigFile)
	if _, err := os.Stat(promConfig); err != nil {
		s.out.System("%s is missing, so prometheus does not start", prometheusConfigFile)
		return specs, nil
	}
	return append(specs, proc.Spec{
		Name: "prometheus",
		Path: promBin,
		Args: []string{
			"--config.file=" + promConfig,
			"--web.listen-address=127.0.0.1:" + strconv.Itoa(prometheusPort),
			"--storage.tsdb.path=" + filepath.Join(s.DataDir(), "prometheus"),
		},
		Dir:   s.cfg.RootDir,
		Env:   os.Environ(),
		Ports: []proc.Port{{Port: prometheusPort, What: "prometheus"}},
		Ready: proc.HTTP(fmt.Sprintf("http://127.0.0.1:%d/-/ready", prometheusPort)),
	}), nil
}
