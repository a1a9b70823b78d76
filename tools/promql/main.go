// Command promql-names prints the metric names that the PromQL expressions
// of Prometheus rule files and Grafana dashboards reference, so that a test
// can check each of them against what the running system exposes.
//
//	promql-names [-json] PATH...
//
// Each PATH is a file or a folder, searched recursively. A YAML file with
// `groups` is a rule file (every rule's expr is read, and a recording rule's
// name is reported as defined); a Prometheus configuration (`scrape_configs`)
// and a promtool test file (`tests`) are skipped; any other YAML file is an
// error. A JSON file is a Grafana dashboard: every "expr" string is a query,
// and so is the selector of a templating variable's label_values(...).
// Grafana's variables ($app, ${app}, [[app]], $__rate_interval, ...) are
// replaced by their current values before parsing.
//
// Every expression is parsed with Prometheus's own parser; one that does not
// parse, or whose selector names no metric (a regular expression on
// __name__), is an error naming the file and the expression, and the exit
// status is 1.
//
// The output is a line per expression, "file<TAB>where<TAB>name name ...", or
// with -json one array of objects {file, where, expr, names, record}.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "promql-names:", err)
		os.Exit(1)
	}
}

// expression is one PromQL expression found in a file and the metric
// names it references.
type expression struct {
	File  string   `json:"file"`
	Where string   `json:"where"`
	Expr  string   `json:"expr"`
	Names []string `json:"names"`
	// Record is the name a recording rule stores the expression's result
	// under: a name that exists in Prometheus, not in any scrape target.
	Record string `json:"record,omitempty"`
}

func run(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("promql-names", flag.ContinueOnError)
	flags.SetOutput(stderr)
	asJSON := flags.Bool("json", false, "print one JSON array instead of a line per expression")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() == 0 {
		return fmt.Errorf("usage: promql-names [-json] PATH...")
	}
	var files []string
	for _, root := range flags.Args() {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && slices.Contains([]string{".yml", ".yaml", ".json"}, filepath.Ext(path)) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	sort.Strings(files)

	var all []expression
	var failures []string
	for _, f := range files {
		exprs, errs := readFile(f)
		all = append(all, exprs...)
		for _, err := range errs {
			failures = append(failures, err.Error())
		}
	}
	if *asJSON {
		if all == nil {
			all = []expression{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			return err
		}
	} else {
		for _, e := range all {
			fmt.Fprintf(stdout, "%s\t%s\t%s\n", e.File, e.Where, strings.Join(e.Names, " "))
		}
	}
	if len(failures) > 0 {
		for _, f := range failures {
			fmt.Fprintln(stderr, f)
		}
		return fmt.Errorf("%d expression(s) or file(s) failed", len(failures))
	}
	return nil
}

// readFile reads the expressions of one rule file or dashboard. Every
// expression is tried, so that one run names every failure.
func readFile(path string) ([]expression, []error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{err}
	}
	var found []expression
	if filepath.Ext(path) == ".json" {
		found, err = dashboardExprs(b)
	} else {
		found, err = ruleExprs(b)
	}
	if err != nil {
		return nil, []error{fmt.Errorf("%s: %w", path, err)}
	}
	var out []expression
	var errs []error
	for _, e := range found {
		e.File = path
		names, err := metricNames(e.Expr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %q: %w", path, e.Where, e.Expr, err))
			continue
		}
		e.Names = names
		out = append(out, e)
	}
	return out, errs
}

// ruleFile is what of a Prometheus rule file (or of another YAML file in
// the same folders) tells its kind and holds its expressions.
type ruleFile struct {
	Groups *[]struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
	ScrapeConfigs yaml.Node `yaml:"scrape_configs"`
	Tests         yaml.Node `yaml:"tests"`
}

func ruleExprs(b []byte) ([]expression, error) {
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		return nil, err
	}
	switch {
	case rf.Groups != nil:
	case !rf.ScrapeConfigs.IsZero() || !rf.Tests.IsZero():
		return nil, nil // a Prometheus configuration or a promtool test file
	default:
		return nil, fmt.Errorf("neither a rule file (groups), a Prometheus configuration (scrape_configs) nor a promtool test file (tests)")
	}
	var out []expression
	for _, g := range *rf.Groups {
		for i, r := range g.Rules {
			name := r.Alert
			if name == "" {
				name = r.Record
			}
			if r.Expr == "" {
				return nil, fmt.Errorf("group %s, rule %d (%s): no expr", g.Name, i+1, name)
			}
			out = append(out, expression{
				Where:  fmt.Sprintf("group %s, rule %s", g.Name, name),
				Expr:   r.Expr,
				Record: r.Record,
			})
		}
	}
	return out, nil
}

// labelValues is a templating query of Grafana's Prometheus data source
// that holds a selector: label_values(<selector>, <label>).
var labelValues = regexp.MustCompile(`^\s*label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

func dashboardExprs(b []byte) ([]expression, error) {
	var dash map[string]any
	if err := json.Unmarshal(b, &dash); err != nil {
		return nil, err
	}
	vars := variables(dash)
	var out []expression
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			here := where
			if title, ok := v["title"].(string); ok && title != "" {
				here = strings.TrimPrefix(where+" / "+title, " / ")
			}
			for _, k := range keys {
				if s, ok := v[k].(string); ok && k == "expr" && strings.TrimSpace(s) != "" {
					out = append(out, expression{Where: "panel " + here, Expr: substitute(s, vars)})
					continue
				}
				walk(v[k], here)
			}
		case []any:
			for _, e := range v {
				walk(e, where)
			}
		}
	}
	panels := map[string]any{}
	for k, v := range dash {
		if k != "templating" {
			panels[k] = v
		}
	}
	walk(panels, "")

	templating, _ := dash["templating"].(map[string]any)
	list, _ := templating["list"].([]any)
	for _, item := range list {
		v, _ := item.(map[string]any)
		if v["type"] != "query" {
			continue
		}
		q := v["query"]
		if m, ok := q.(map[string]any); ok {
			q = m["query"]
		}
		s, _ := q.(string)
		if m := labelValues.FindStringSubmatch(s); m != nil {
			out = append(out, expression{Where: fmt.Sprintf("variable %v", v["name"]), Expr: substitute(m[1], vars)})
		}
	}
	return out, nil
}

// variables are the current values of a dashboard's templating variables,
// to stand in for them in its queries.
func variables(dash map[string]any) map[string]string {
	vars := map[string]string{}
	templating, _ := dash["templating"].(map[string]any)
	list, _ := templating["list"].([]any)
	for _, item := range list {
		v, _ := item.(map[string]any)
		name, _ := v["name"].(string)
		if name == "" {
			continue
		}
		value := "x"
		if cur, ok := v["current"].(map[string]any); ok {
			switch c := cur["value"].(type) {
			case string:
				value = c
			case []any:
				if len(c) > 0 {
					if s, ok := c[0].(string); ok {
						value = s
					}
				}
			}
		}
		if value == "$__all" || value == "" {
			value = "x"
		}
		vars[name] = value
	}
	return vars
}

// builtins are Grafana's own variables, with values of the right kind
// (durations where Grafana puts a duration).
var builtins = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__interval_ms":   "60000",
	"__range":         "1h",
	"__range_s":       "3600",
	"__range_ms":      "3600000",
}

// variable matches $name, ${name}, ${name:format} and [[name]].
var variable = regexp.MustCompile(`\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)|\[\[([a-zA-Z_][a-zA-Z0-9_]*)\]\]`)

// substitute replaces Grafana's variables in a query by their values; an
// unknown variable stays as it is, and the parser reports it.
func substitute(q string, vars map[string]string) string {
	return variable.ReplaceAllStringFunc(q, func(m string) string {
		sub := variable.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		if v, ok := builtins[name]; ok {
			return v
		}
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

// metricNames parses an expression and returns the sorted metric names of
// its selectors.
func metricNames(q string) ([]string, error) {
	// Default options: the PromQL that a stock Prometheus accepts, without
	// experimental functions.
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(q)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var selErr error
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		// A matrix selector's vector selector is its child: visited too.
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			selErr = fmt.Errorf("selector %s names no metric", vs)
			return selErr
		}
		seen[name] = true
		return nil
	})
	if selErr != nil {
		return nil, selErr
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
