package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetricNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		expr    string
		want    []string
		wantErr string
	}{
		{name: "one selector", expr: `up{job="daprshop"} == 0`, want: []string{"up"}},
		{
			name: "range selectors, aggregations and binary operators",
			expr: `sum by (app) (rate(a_total{code=~"5.."}[5m])) / sum by (app) (rate(a_total[5m])) > 0.05 and on (app) b > 1`,
			want: []string{"a_total", "b"},
		},
		{
			name: "histogram_quantile over buckets",
			expr: `histogram_quantile(0.99, sum by (le) (rate(d_seconds_bucket[1m])))`,
			want: []string{"d_seconds_bucket"},
		},
		{name: "subquery", expr: `max_over_time(rate(c_total[1m])[10m:1m])`, want: []string{"c_total"}},
		{name: "name as a matcher", expr: `{__name__="e_total", app="x"}`, want: []string{"e_total"}},
		{name: "numbers only", expr: `1 + 2`, want: []string{}},
		{name: "a regular expression on the name", expr: `{__name__=~"dapr_.*"}`, wantErr: "names no metric"},
		{name: "not PromQL", expr: `rate(x[5m]`, wantErr: "unclosed left parenthesis"},
		{name: "a Grafana variable left in", expr: `rate(x[$__rate_interval])`, wantErr: "parse error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := metricNames(tt.expr)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSubstitute(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"app": "orders", "window": "5m"}
	tests := []struct {
		name, in, want string
	}{
		{name: "dollar", in: `x{app="$app"}`, want: `x{app="orders"}`},
		{name: "braces and a format", in: `x{app=~"${app:regex}"}[${window}]`, want: `x{app=~"orders"}[5m]`},
		{name: "brackets", in: `x{app="[[app]]"}`, want: `x{app="orders"}`},
		{name: "builtins", in: `rate(x[$__rate_interval]) * $__range_s + rate(y[$__interval])`, want: `rate(x[1m]) * 3600 + rate(y[1m])`},
		{name: "unknown stays", in: `x{app="$nope"}`, want: `x{app="$nope"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, substitute(tt.in, vars))
		})
	}
}

const rules = `
groups:
  - name: g
    rules:
      - record: app:a:rate5m
        expr: sum by (app) (rate(a_total[5m]))
      - alert: A
        expr: app:a:rate5m > 1 and on (app) up == 1
`

const dashboard = `{
  "title": "d",
  "panels": [
    {"title": "row", "type": "row", "panels": [
      {"title": "p1", "targets": [{"expr": "sum(rate(b_total{app=~\"$app\"}[$__rate_interval]))"}]}
    ]},
    {"title": "p2", "targets": [{"expr": "c{app=\"$app\"}", "legendFormat": "{{app}}"}, {"expr": ""}]}
  ],
  "templating": {"list": [
    {"name": "app", "type": "query", "query": {"query": "label_values(up{job=\"daprshop\"}, app)"},
     "current": {"value": "orders"}},
    {"name": "ds", "type": "datasource", "query": "prometheus"}
  ]}
}`

// write puts files in a fresh folder and returns it.
func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
	}
	return dir
}

func TestRunReadsRulesAndDashboards(t *testing.T) {
	t.Parallel()
	dir := write(t, map[string]string{
		"rules/r.yml":        rules,
		"dashboards/d.json":  dashboard,
		"prometheus.yml":     "scrape_configs: []\n",
		"tests/r_test.yml":   "rule_files: [../rules/r.yml]\ntests: []\n",
		"dashboards/README":  "not read",
		"rules/empty/.keep":  "",
		"dashboards/x.jsonl": "not read",
	})
	var stdout, stderr bytes.Buffer
	require.NoError(t, run([]string{"-json", dir}, &stdout, &stderr), stderr.String())
	var got []expression
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &got))
	for i := range got {
		rel, err := filepath.Rel(dir, got[i].File)
		require.NoError(t, err)
		got[i].File = rel
	}
	want := []expression{
		{File: "dashboards/d.json", Where: "panel d / row / p1", Expr: `sum(rate(b_total{app=~"orders"}[1m]))`, Names: []string{"b_total"}},
		{File: "dashboards/d.json", Where: "panel d / p2", Expr: `c{app="orders"}`, Names: []string{"c"}},
		{File: "dashboards/d.json", Where: "variable app", Expr: `up{job="daprshop"}`, Names: []string{"up"}},
		{File: "rules/r.yml", Where: "group g, rule app:a:rate5m", Expr: `sum by (app) (rate(a_total[5m]))`, Names: []string{"a_total"}, Record: "app:a:rate5m"},
		{File: "rules/r.yml", Where: "group g, rule A", Expr: `app:a:rate5m > 1 and on (app) up == 1`, Names: []string{"app:a:rate5m", "up"}},
	}
	assert.Equal(t, want, got)
}

func TestRunNamesEveryFailure(t *testing.T) {
	t.Parallel()
	dir := write(t, map[string]string{
		"rules/bad.yml": "groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: rate(x[5m]\n      - alert: Fine\n        expr: y > 1\n",
		"d.json":        `{"panels": [{"title": "p", "targets": [{"expr": "z{app=\"$unknown\"}[$nope]"}]}]}`,
		"other.yaml":    "foo: bar\n",
	})
	var stdout, stderr bytes.Buffer
	err := run([]string{dir}, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "3 expression(s) or file(s) failed")
	assert.Contains(t, stderr.String(), filepath.Join(dir, "rules/bad.yml")+": group g, rule Broken: \"rate(x[5m]\"")
	assert.Contains(t, stderr.String(), filepath.Join(dir, "d.json")+": panel p: ")
	assert.Contains(t, stderr.String(), filepath.Join(dir, "other.yaml")+": neither a rule file")
	// What parsed is still printed.
	assert.Contains(t, stdout.String(), "group g, rule Fine\ty\n")
}

func TestRunNeedsAPath(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	assert.Error(t, run(nil, &stdout, &stderr))
	assert.Error(t, run([]string{"/does/not/exist"}, &stdout, &stderr))
}
