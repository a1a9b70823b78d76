// Command bench measures daprshop side by side with baselines run on the
// same machine in the same run, and writes docs/benchmarks.md (and a
// chart, docs/benchmarks.png). Every figure that matters is a ratio
// against a baseline of the same run: the machine is small and shared.
//
//	cd bench && go run . -root .. -benchtime 5s -reps 3
//
// Parts (-parts, comma-separated): invoke (service invocation: direct, two
// Go reverse proxies, two Dapr sidecars), micro (Go benchmarks of the
// seed's practices, before/after, compared with benchstat), pubsub (Dapr
// pub/sub against a direct NATS JetStream client), saga (the checkout
// saga on Dapr Workflow, local and redis profiles, against the same
// workflow with no-op activities and the same participant calls by DTM).
// `make bench` runs it; it needs `make tools` first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

type config struct {
	root      string
	daprd     string
	bin       string
	benchtime time.Duration
	reps      int
	workers   int
	parts     []string
	out       string
	png       string
	benchStat string // benchstat binary
	// hostNet is the machine's network namespace (/proc/<pid>/ns/net of a
	// process outside the bench's own), where part 4 runs its benchmarks.
	hostNet   string
	microTime string // -benchtime for the Go benchmarks
	microN    int    // -count for the Go benchmarks
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := serve(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// serve runs one of the helper processes the benchmarks start.
func serve(args []string) error {
	switch {
	case len(args) == 2 && args[0] == "handler":
		return serveHandler(args[1])
	case len(args) == 3 && args[0] == "proxy":
		return serveProxy(args[1], args[2])
	}
	return fmt.Errorf("serve: unknown mode %q", args)
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var cfg config
	var parts string
	fs.StringVar(&cfg.root, "root", "..", "repository root (holds .bin/ and docs/)")
	fs.DurationVar(&cfg.benchtime, "benchtime", 5*time.Second, "duration of each load run (scales the whole benchmark)")
	fs.IntVar(&cfg.reps, "reps", 3, "repetitions of each measurement, alternating the order")
	fs.IntVar(&cfg.workers, "workers", 32, "closed-loop workers of the throughput runs")
	fs.StringVar(&parts, "parts", "invoke,micro,pubsub,saga", "parts to run")
	fs.StringVar(&cfg.hostNet, "hostnet", "", "the machine's network namespace (/proc/<pid>/ns/net), where part 4's Go benchmarks run (make bench passes its shell's)")
	fs.StringVar(&cfg.out, "out", "", "report file (default ROOT/docs/benchmarks.md)")
	fs.StringVar(&cfg.benchStat, "benchstat", "", "benchstat binary (default ROOT/.bin/benchstat)")
	fs.StringVar(&cfg.microTime, "micro-benchtime", "200ms", "-benchtime of the Go benchmarks")
	fs.IntVar(&cfg.microN, "micro-count", 6, "-count of the Go benchmarks (benchstat wants at least 6 for a confidence interval)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := filepath.Abs(cfg.root)
	if err != nil {
		return err
	}
	cfg.root = root
	cfg.bin = filepath.Join(root, ".bin")
	cfg.daprd = filepath.Join(cfg.bin, "daprd")
	if cfg.out == "" {
		cfg.out = filepath.Join(root, "docs", "benchmarks.md")
	}
	cfg.png = strings.TrimSuffix(cfg.out, ".md") + ".png"
	if cfg.benchStat == "" {
		cfg.benchStat = filepath.Join(cfg.bin, "benchstat")
	}
	cfg.parts = strings.Split(parts, ",")
	if _, err := os.Stat(cfg.daprd); err != nil {
		return fmt.Errorf("%s missing: run `make tools` first", cfg.daprd)
	}
	if onlyLoopback() && os.Getenv("DAPR_HOST_IP") == "" {
		// In a private network namespace daprd finds no host address to
		// advertise to placement and exits; loopback is the address here.
		os.Setenv("DAPR_HOST_IP", "127.0.0.1")
	}
	began := time.Now()
	log := func(format string, args ...any) {
		fmt.Printf("%6.1fs  %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}

	rep := &report{env: environment(cfg)}
	var errs []error
	if slices.Contains(cfg.parts, "invoke") {
		r, err := runInvoke(cfg, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("part 1: %w", err))
			rep.invokeErr = err
		}
		rep.invoke = r
	}
	if slices.Contains(cfg.parts, "pubsub") {
		r, err := runPubSub(ctx, cfg, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("part 3: %w", err))
			rep.pubsubErr = err
		}
		rep.pubsub = r
	}
	if slices.Contains(cfg.parts, "saga") {
		r, err := runSaga(ctx, cfg, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("part 2: %w", err))
			rep.sagaErr = err
		}
		rep.saga = r
	}
	if slices.Contains(cfg.parts, "micro") {
		r, err := runMicro(ctx, cfg, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("part 4: %w", err))
			rep.microErr = err
		}
		rep.micro = r
	}
	rep.took = time.Since(began)
	if err := rep.write(cfg); err != nil {
		errs = append(errs, err)
	}
	log("report written to %s", cfg.out)
	return errors.Join(errs...)
}
