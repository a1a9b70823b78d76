package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The alert rules and dashboards of deploy/observability name metrics by
// hand; a renamed or never-exported metric would leave an alert that never
// fires and a panel that stays empty, silently. These tests run a checkout
// through the system, scrape every target of deploy/observability/
// prometheus.yml, and fail naming each metric the rules or dashboards
// reference that no target exposes.

// observabilityDir is deploy/observability, from the tests folder.
var observabilityDir = filepath.Join("..", "deploy", "observability")

// synthetic are the series Prometheus makes itself, never scraped.
var synthetic = []string{"up", "ALERTS", "ALERTS_FOR_STATE"}

// reference is one expression of a rule file or dashboard, as
// .bin/promql-names prints it.
type reference struct {
	File   string   `json:"file"`
	Where  string   `json:"where"`
	Expr   string   `json:"expr"`
	Names  []string `json:"names"`
	Record string   `json:"record"`
}

// references runs .bin/promql-names over a folder. It parses every
// expression with Prometheus's own parser, so an expression that does not
// parse fails here, named.
func references(t *testing.T, dir string) []reference {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("..", ".bin", "promql-names"))
	require.NoError(t, err)
	_, err = os.Stat(bin)
	require.NoError(t, err, "build the extractor first: make .bin/promql-names (make test does)")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "-json", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "promql-names %s:\n%s", dir, stderr.String())
	var refs []reference
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &refs))
	return refs
}

// target is one scrape target of prometheus.yml.
type target struct {
	Job, App, Address string
}

// scrapeTargets reads the static targets of deploy/observability/
// prometheus.yml: the test scrapes exactly what Prometheus would.
func scrapeTargets(t *testing.T) []target {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(observabilityDir, "prometheus.yml"))
	require.NoError(t, err)
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal(b, &cfg))
	var out []target
	for _, sc := range cfg.ScrapeConfigs {
		require.Contains(t, []string{"", "/metrics"}, sc.MetricsPath, "job %s", sc.JobName)
		for _, st := range sc.StaticConfigs {
			for _, addr := range st.Targets {
				out = append(out, target{Job: sc.JobName, App: st.Labels["app"], Address: addr})
			}
		}
	}
	return out
}

// scrape reads a target's /metrics in the text format and returns the
// names it exposes: every sample's name and every family's (a histogram
// family "x" has samples x_bucket, x_sum and x_count).
func scrape(addr string) (map[string]bool, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s/metrics: %d %s", addr, resp.StatusCode, b)
	}
	return exposedNames(resp.Body)
}

// exposedNames parses the Prometheus text exposition format far enough to
// list names.
func exposedNames(r io.Reader) (map[string]bool, error) {
	names := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if name, _, ok := strings.Cut(f, " "); ok {
				names[name] = true
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names, sc.Err()
}

// missingNames returns, for each metric name the references use that is
// neither exposed, nor made by Prometheus, nor recorded by a rule, where
// it is used.
func missingNames(refs []reference, exposed map[string]bool) map[string][]string {
	recorded := map[string]bool{}
	for _, r := range refs {
		if r.Record != "" {
			recorded[r.Record] = true
		}
	}
	missing := map[string][]string{}
	for _, r := range refs {
		for _, n := range r.Names {
			if exposed[n] || recorded[n] || slices.Contains(synthetic, n) {
				continue
			}
			missing[n] = append(missing[n], filepath.Base(r.File)+": "+r.Where)
		}
	}
	return missing
}

// describe lists missing names one a line, with where each is used.
func describe(missing map[string][]string) string {
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "  %s  (%s)\n", n, strings.Join(slices.Compact(missing[n]), "; "))
	}
	return b.String()
}

// exerciseSystem drives the traffic after which every metric the rules and
// dashboards use has been recorded at least once: a user registered (outbox,
// pub/sub to payments and notifications), the catalog read twice (cache miss
// and hit), and an order placed and completed (saga, workflow engine,
// service invocation to catalog and payments).
func exerciseSystem(t *testing.T) {
	t.Helper()
	sc := newScenario(t, "Metrics")
	u := sc.users[0]
	awaitWelcome(t, u)
	for range 2 {
		status, _, b := do(t, http.MethodGet, gatewayURL(t)+"/api/v1/products/paper-filters-100", "", nil, nil)
		require.Equal(t, http.StatusOK, status, "%s", b)
	}
	id := sc.place(t, u, orderBody("paper-filters-100", 1))
	o := awaitFinal(t, u, id, time.Minute)
	require.Equal(t, "completed", o.Status, "%+v", o)
	sc.check(t)
}

func TestRulesAndDashboardsNameOnlyExposedMetrics(t *testing.T) {
	skipShort(t)
	refs := references(t, observabilityDir)
	require.NotEmpty(t, refs)

	targets := scrapeTargets(t)
	jobs := map[string][]string{}
	for _, tg := range targets {
		jobs[tg.Job] = append(jobs[tg.Job], tg.App)
	}
	for _, id := range apps {
		assert.Contains(t, jobs["daprshop"], id, "prometheus.yml scrapes app %s", id)
		assert.Contains(t, jobs["dapr-sidecar"], id, "prometheus.yml scrapes the sidecar of %s", id)
	}
	assert.ElementsMatch(t, []string{"placement", "scheduler", "sentry"}, jobs["dapr-control-plane"])
	// The sidecars' ports are the run file's.
	for _, tg := range targets {
		if tg.Job != "dapr-sidecar" {
			continue
		}
		a, ok := sys.App(tg.App)
		if assert.True(t, ok, "sidecar target %s names an app of the run file", tg.App) {
			assert.Equal(t, fmt.Sprintf("127.0.0.1:%d", a.MetricsPort), tg.Address, "metrics port of %s's daprd", tg.App)
		}
	}

	exerciseSystem(t)

	// Some series appear a moment after the order shows completed (the
	// workflow engine counts the run once the workflow returns): scrape
	// until nothing is missing, or report what still is.
	var exposed map[string]bool
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		exposed = map[string]bool{}
		for _, tg := range targets {
			names, err := scrape(tg.Address)
			if !assert.NoError(c, err, "scrape %s target %s (%s)", tg.Job, tg.App, tg.Address) {
				continue
			}
			for n := range names {
				exposed[n] = true
			}
		}
		missing := missingNames(refs, exposed)
		assert.Empty(c, missing, "metrics the rules or dashboards use that no target exposes:\n%s", describe(missing))
	}, 30*time.Second, time.Second)

	// The check can fail: a made-up name is reported, a real one is not.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "made-up.yml"), []byte(`groups:
  - name: made-up
    rules:
      - alert: MadeUp
        expr: rate(daprshop_no_such_metric_total[5m]) > 0 and on () up{job="daprshop"} == 1 and on () go_goroutines > 0
`), 0o644))
	madeUp := missingNames(references(t, dir), exposed)
	assert.Equal(t, map[string][]string{"daprshop_no_such_metric_total": {"made-up.yml: group made-up, rule MadeUp"}}, madeUp)
}

func TestMissingNames(t *testing.T) {
	t.Parallel()
	refs := []reference{
		{File: "/x/rules/slo.yml", Where: "group g, rule r", Names: []string{"a_bucket", "a_count"}, Record: "app:a:ratio"},
		{File: "/x/rules/slo.yml", Where: "group g, rule A", Names: []string{"app:a:ratio", "up", "ALERTS"}},
		{File: "/x/dashboards/d.json", Where: "panel p", Names: []string{"b_total", "c"}},
		{File: "/x/dashboards/d.json", Where: "panel q", Names: []string{"c"}},
	}
	exposed, err := exposedNames(strings.NewReader(`# HELP a A histogram.
# TYPE a histogram
a_bucket{le="0.5"} 1
a_bucket{le="+Inf"} 2
a_sum 0.7
a_count 2
b_total 3
`))
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{"c": {"d.json: panel p", "d.json: panel q"}}, missingNames(refs, exposed))
	assert.Equal(t, "  c  (d.json: panel p; d.json: panel q)\n", describe(missingNames(refs, exposed)))
}

// eventsHandled reads app's daprshop_events_handled_total for topic and
// outcome from its admin port.
func eventsHandled(t *testing.T, app, topic, outcome string) float64 {
	t.Helper()
	return metricValue(t, app, fmt.Sprintf(`daprshop_events_handled_total{outcome=%q,topic=%q} `, outcome, topic))
}

// metricValue reads one series (its exposition line up to the value) from
// app's admin port.
func metricValue(t *testing.T, app, series string) float64 {
	t.Helper()
	a, ok := sys.App(app)
	require.True(t, ok)
	v, err := readMetric(a.Env["ADMIN_PORT"], series)
	require.NoError(t, err)
	return v
}

func readMetric(port, series string) (float64, error) {
	resp, err := client.Get("http://127.0.0.1:" + port + "/metrics") //nolint:noctx // a local probe, bounded by the client's timeout
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no series %q on port %s", series, port)
}
