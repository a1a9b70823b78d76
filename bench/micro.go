package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Part 4: Go benchmarks of the seed's practices, each with a "before" and
// an "after" variant (sub-benchmarks named variant=...), in
// *_bench_test.go files next to the code they measure, compared with
// benchstat.

type microFamily struct {
	name    string // benchmark name without "Benchmark"
	pkg     string
	title   string
	base    string // the variant others are compared with (the "before")
	code    string // the variant the code uses
	inCode  string // which variant the code uses, and where
	explain string
}

var microFamilies = []microFamily{
	{
		name: "HTTPClient", code: "shared", pkg: "./internal/sidecar/", title: "Shared HTTP transport vs a new client per call", base: "per-call",
		inCode:  "`shared`: `sidecar.NewHTTPClient`, one per app, built once in `run`",
		explain: "Calls to a loopback server standing in for the sidecar, 2 × GOMAXPROCS goroutines at once. `conns/op` is the connections the server accepted per call.",
	},
	{
		name: "CatalogReads", code: "cache", pkg: "./services/catalog/", title: "Catalog cache with singleflight vs none, concurrent reads", base: "none",
		inCode:  "`cache`: `services/catalog/cache.go` (TTL + singleflight) in front of the store",
		explain: "16 goroutines read 8 hot products; the store is a real loopback HTTP round trip per read. `singleflight-only` has a TTL of zero, so every read misses and only the sharing of concurrent misses is left. `store-calls/op` is store reads per catalog read.",
	},
	{
		name: "PriceFanOut", code: "bounded", pkg: "./services/orders/", title: "Bounded vs unbounded concurrency for the pricing fan-out", base: "unbounded",
		inCode:  "`bounded`: `service.price` in `services/orders/service.go`, errgroup with `SetLimit(lookups)` (4)",
		explain: "An order's lines are priced by one catalog call each; with 4 lines or fewer the bound never applies. 8 orders of 20 lines priced at once through the real catalog adapter and the shared client, against a loopback server standing in for the sidecar: at once (`latency=0s`, CPU-bound) or after 1 ms (`latency=1ms`, about part 1's two-sidecar round trip). `peak-inflight` is the most calls the server held at once, `conns/op` the connections it accepted per order (the shared transport keeps 64 idle per host: more at once means new connections).",
	},
	{
		name: "CatalogPage", code: "bulk", pkg: "./services/catalog/", title: "A page of the catalog: one query per product vs one bulk read (query optimisation)", base: "per-key",
		inCode:  "`bulk`: `service.List` reads the index, then the page with `GetMany`, one bulk read (`services/catalog/store.go`)",
		explain: "One page of 20 of 100 products through a real daprd, on each SQL store present: SQLite (the local profile's), and PostgreSQL and MariaDB when the machine runs them (the postgres and mysql profiles' components; the benchmark runs in the machine's network namespace for them). `per-key` reads each product on its own, the N+1 queries; `bulk` asks the sidecar once, and each of these stores answers with one SELECT on its primary key (`IN (...)` in SQLite and MySQL, `= ANY($1)` in PostgreSQL: components-contrib 1.18's `BulkGet`). `sidecar-reads/op` counts the calls to the sidecar, one SQL query each: 21 against 2.",
	},
	{
		name: "EventEncoding", code: "json", pkg: "./services/orders/", title: "JSON vs protobuf for an event payload", base: "json",
		inCode:  "`json`: the saga publishes `orderEvent` as JSON in a CloudEvent",
		explain: "Encode and decode `orderEvent` (order.cancelled, with a reason). Protobuf is written with `protowire` (the wire format of generated code, protobuf at its fastest; no protoc needed). `bytes/event` is the payload size.",
	},
	{
		name: "Respond", code: "encoder", pkg: "./internal/web/", title: "sync.Pool for response buffers", base: "encoder",
		inCode:  "`encoder`: `web.Respond` encodes straight into the ResponseWriter (net/http buffers it already; encoding/json pools its own encode state)",
		explain: "Write a page of 20 products (about 1.5 KB of JSON) to a ResponseWriter that discards it, in parallel.",
	},
}

type microResults struct {
	count     int
	benchtime string
	raw       string // go test output, every line
	failures  []string
	// notes adds a sentence after a family's verdict (from other parts).
	notes   map[string]string
	stats   map[string]string
	samples map[string]map[string]map[string][]float64 // family → sub-benchmark → unit → values
	order   map[string][]string                        // family → sub-benchmarks in order of appearance
}

func runMicro(ctx context.Context, cfg config, log func(string, ...any)) (*microResults, error) {
	r := &microResults{count: cfg.microN, benchtime: cfg.microTime, stats: map[string]string{},
		samples: map[string]map[string]map[string][]float64{}, order: map[string][]string{}}
	byPkg := map[string][]string{}
	var pkgs []string
	for _, f := range microFamilies {
		if _, ok := byPkg[f.pkg]; !ok {
			pkgs = append(pkgs, f.pkg)
		}
		byPkg[f.pkg] = append(byPkg[f.pkg], "Benchmark"+f.name)
	}
	var raw bytes.Buffer
	for _, pkg := range pkgs {
		log("part 4: go test -bench %s", pkg)
		args := []string{"test", "-run", "^$", "-bench", "^(" + strings.Join(byPkg[pkg], "|") + ")$",
			"-benchmem", "-count", strconv.Itoa(cfg.microN), "-benchtime", cfg.microTime, pkg}
		cmd := exec.CommandContext(ctx, "go", args...)
		if cfg.hostNet != "" {
			// The Go benchmarks use loopback servers of their own, and the
			// catalog page the machine's SQL servers, which the bench's
			// private namespace cannot reach: they run in the machine's.
			cmd = exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + cfg.hostNet, "--", "go"}, args...)...)
		}
		cmd.Dir = cfg.root
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &raw, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go test -bench %s: %w\n%s%s", pkg, err, lastLines(raw.String(), 20), stderr.String())
		}
	}
	r.raw = raw.String()
	r.parse()
	// benchstat reads the benchmark lines and the configuration lines; a
	// log line printed in the middle of a benchmark's line breaks it.
	var clean strings.Builder
	for _, l := range strings.Split(r.raw, "\n") {
		switch {
		case strings.HasPrefix(l, "--- FAIL"):
			r.failures = append(r.failures, strings.TrimSpace(l))
		case benchLine.MatchString(l), strings.HasPrefix(l, "goos:"), strings.HasPrefix(l, "goarch:"), strings.HasPrefix(l, "pkg:"), strings.HasPrefix(l, "cpu:"):
			clean.WriteString(l + "\n")
		}
	}
	file := filepath.Join(os.TempDir(), "daprshop-bench-micro.txt")
	if err := os.WriteFile(file, []byte(clean.String()), 0o644); err != nil {
		return nil, err
	}
	defer os.Remove(file)
	for _, f := range microFamilies {
		out, err := exec.CommandContext(ctx, cfg.benchStat, "-col", "/variant@("+f.base+" "+strings.Join(otherVariants(r.order[f.name], f.base), " ")+")",
			"-filter", ".name:"+f.name, file).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("benchstat %s: %w\n%s", f.name, err, out)
		}
		r.stats[f.name] = string(out)
	}
	return r, nil
}

var benchLine = regexp.MustCompile(`^Benchmark(\w+)(/\S*?)?(-\d+)?\s+\d+\s+(.*)$`)

// parse collects every sample by family, sub-benchmark and unit.
func (r *microResults) parse() {
	for _, line := range strings.Split(r.raw, "\n") {
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		fam, sub := m[1], strings.TrimPrefix(m[2], "/")
		if r.samples[fam] == nil {
			r.samples[fam] = map[string]map[string][]float64{}
		}
		if r.samples[fam][sub] == nil {
			r.samples[fam][sub] = map[string][]float64{}
			r.order[fam] = append(r.order[fam], sub)
		}
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				r.samples[fam][sub][f[i+1]] = append(r.samples[fam][sub][f[i+1]], v)
			}
		}
	}
}

// variantOf splits "latency=1ms/variant=bounded" into the variant and the rest.
func variantOf(sub string) (variant, rest string) {
	var others []string
	for _, part := range strings.Split(sub, "/") {
		if v, ok := strings.CutPrefix(part, "variant="); ok {
			variant = v
		} else {
			others = append(others, part)
		}
	}
	return variant, strings.Join(others, "/")
}

func otherVariants(subs []string, base string) []string {
	var out []string
	for _, s := range subs {
		v, _ := variantOf(s)
		if v != base && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func (r *microResults) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## 4. The seed's practices, before and after\n\n")
	fmt.Fprintf(&b, "Go benchmarks in `*_bench_test.go` files next to the code they measure, run with `go test -bench -benchmem -count %d -benchtime %s`, "+
		"compared with [benchstat](https://pkg.go.dev/golang.org/x/perf/cmd/benchstat) (`-col /variant`, the first column the baseline). "+
		"Medians below, each variant's ratio to the baseline in brackets (below 1 is less); benchstat's own tables, with confidence intervals and p-values, under each.\n\n",
		r.count, r.benchtime)
	if len(r.failures) > 0 {
		fmt.Fprintf(&b, "**Failed in this run:** %s (their figures are missing or cover fewer runs).\n\n", strings.Join(r.failures, "; "))
	}
	for _, f := range microFamilies {
		fmt.Fprintf(&b, "### %s\n\n%s In the code: %s.\n\n", f.title, f.explain, f.inCode)
		subs := r.order[f.name]
		units := unitsOf(r.samples[f.name], subs)
		fmt.Fprintf(&b, "| benchmark | variant | %s |\n|---|---|%s\n", strings.Join(units, " | "), strings.Repeat("---:|", len(units)))
		for _, sub := range subs {
			v, rest := variantOf(sub)
			base := baseSub(subs, rest, f.base)
			var cells []string
			for _, u := range units {
				x := median(r.samples[f.name][sub][u])
				cell := fmtNum(x)
				if bx := median(r.samples[f.name][base][u]); base != sub && bx > 0 {
					cell += " (" + fmtNum(x/bx) + "×)"
				}
				cells = append(cells, cell)
			}
			name := f.name
			if rest != "" {
				name += "/" + rest
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", name, v, strings.Join(cells, " | "))
		}
		b.WriteString(r.verdict(f))
		if n := r.notes[f.name]; n != "" {
			b.WriteString("\n" + n + "\n")
		}
		fmt.Fprintf(&b, "\n<details><summary>benchstat</summary>\n\n```\n%s```\n\n</details>\n\n", r.stats[f.name])
	}
	return b.String()
}

// baseSub is the sub-benchmark of the baseline variant with the same other keys.
func baseSub(subs []string, rest, base string) string {
	for _, s := range subs {
		if v, r := variantOf(s); v == base && r == rest {
			return s
		}
	}
	return ""
}

func unitsOf(m map[string]map[string][]float64, subs []string) []string {
	var units []string
	for _, s := range subs {
		for u := range m[s] {
			if !slices.Contains(units, u) {
				units = append(units, u)
			}
		}
	}
	rank := func(u string) int {
		switch u {
		case "ns/op":
			return 0
		case "B/op":
			return 1
		case "allocs/op":
			return 2
		}
		return 3
	}
	slices.SortFunc(units, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return units
}

// medianOf is the median of one variant's unit, for other parts' text.
func (r *microResults) medianOf(family, sub, unit string) float64 {
	return median(r.samples[family][sub][unit])
}

func fmtNum(x float64) string {
	switch {
	case x == 0:
		return "0"
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 1:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strconv.FormatFloat(x, 'g', 3, 64)
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n") + "\n"
}

// verdict compares, per benchmark, the variant the code uses with each
// other one on time per operation (medians; benchstat's tables below say
// whether a difference is significant).
func (r *microResults) verdict(f microFamily) string {
	var lines []string
	for _, sub := range r.order[f.name] {
		v, rest := variantOf(sub)
		if v == f.code {
			continue
		}
		mine := baseSub(r.order[f.name], rest, f.code)
		a, o := median(r.samples[f.name][mine]["ns/op"]), median(r.samples[f.name][sub]["ns/op"])
		if a == 0 || o == 0 {
			continue
		}
		x := a / o
		word := "no clear difference (within 5%)"
		switch {
		case x < 0.95:
			word = "the code's choice wins"
		case x > 1.05:
			word = "the alternative is faster"
		}
		where := ""
		if rest != "" {
			where = " (" + rest + ")"
		}
		lines = append(lines, fmt.Sprintf("`%s` takes %s× the time of `%s`%s: %s", f.code, fmtNum(x), v, where, word))
	}
	if len(lines) == 0 {
		return ""
	}
	return "\nMeasured in this run: " + strings.Join(lines, "; ") + ".\n"
}
