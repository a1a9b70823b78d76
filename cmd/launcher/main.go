// Command launcher starts the local daprshop system from the multi-app run
// file (dapr/dapr.yaml), the same file `dapr run -f` reads, and stops it all
// on Ctrl-C or SIGTERM. `make run` calls it.
//
//	go run ./cmd/launcher [-f dapr/dapr.yaml] [-profile local] [-fresh] [-observe] [-tracing zipkin] [-infra] [-env-file dapr/local.env]
//
// -infra starts only what the Dapr CLI leaves to its user (`make infra`),
// writes the exports `dapr run -f dapr/dapr.yaml` needs, and says how to
// use them.
//
// -observe starts Jaeger (built by `make observe-tools`) and, when installed,
// Prometheus before everything else, and prints where to open them.
//
// -tracing zipkin makes every sidecar export its spans in Zipkin's format to
// 127.0.0.1:9411 (dapr/tracing/zipkin.yaml), where Jaeger receives them too.
//
// Environment: PROFILE chooses the folder under components/ (default local).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/daprshop/daprshop/internal/launcher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	runFile := fs.String("f", "dapr/dapr.yaml", "multi-app run file")
	profile := fs.String("profile", getenv("PROFILE"), "infrastructure profile: a folder under components/ (env PROFILE; default local)")
	fresh := fs.Bool("fresh", false, "delete the profile's data (.data/<profile>) before starting")
	nameResolution := fs.String("nameresolution", getenv("NAMERESOLUTION"), "sqlite (default), mdns or consul: a file in dapr/nameresolution/ (env NAMERESOLUTION)")
	tracing := fs.String("tracing", getenv("TRACING"), "the sidecars' span format: otel (default) or zipkin, a file in dapr/tracing/ (env TRACING)")
	infra := fs.Bool("infra", false, "start only what `dapr run -f` needs beside it (servers, streams, sentry, placement, scheduler) and write its exports")
	envFile := fs.String("env-file", "dapr/local.env", "KEY=VALUE lines every sidecar and app inherits: the API tokens")
	observe := fs.Bool("observe", false, "start Jaeger (make observe-tools) and Prometheus (if installed) for traces and metrics")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	sys, err := launcher.Start(ctx, launcher.Config{
		RunFile: *runFile,
		Profile: *profile,
		RootDir: root,
		Output:  stdout,
		Fresh:   *fresh,
		Observe: *observe,
		Infra:   *infra,
		EnvFile: *envFile,

		NameResolution: *nameResolution,
		Tracing:        *tracing,
	})
	if err != nil {
		return err
	}
	if *infra {
		runFile := sys.CLIRunFile()
		if rel, err := filepath.Rel(root, runFile); err == nil {
			runFile = rel
		}
		fmt.Fprintf(stdout, cliHelp, sys.CLIEnvFile(), runFile)
	} else if gw, ok := sys.App("gateway"); ok {
		fmt.Fprintf(stdout, tryIt, gw.AppPort)
	}
	if obs := sys.Observers(); len(obs) > 0 {
		fmt.Fprint(stdout, observeHelp(obs))
	}
	err = sys.Wait(ctx)
	sys.Stop()
	return err
}

// cliHelp is printed once the infrastructure of `-infra` is healthy.
const cliHelp = `
The infrastructure is up (Ctrl-C stops it). In another terminal, at the repository root:

  source %s   # the API tokens and sentry's root certificate
  dapr run -f %s

The apps' binaries are built (.bin/apps/); after a code change, run ` + "`make apps`" + ` again.

`

// tryIt is printed once the system is healthy.
const tryIt = `
daprshop is up. Gateway: http://127.0.0.1:%[1]d   (Ctrl-C stops everything)

  The storefront: open http://127.0.0.1:%[1]d/ in a browser. The same through the API:

  # register (201), then log in for a token
  curl -s -X POST http://127.0.0.1:%[1]d/api/v1/users -H 'Content-Type: application/json' \
       -d '{"email":"ada@example.com","name":"Ada","password":"correct horse battery"}'
  TOKEN=$(curl -s -X POST http://127.0.0.1:%[1]d/api/v1/sessions -H 'Content-Type: application/json' \
       -d '{"email":"ada@example.com","password":"correct horse battery"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')

  # who am I, then the welcome notification and the funded wallet, delivered by pub/sub
  curl -s http://127.0.0.1:%[1]d/api/v1/me -H "Authorization: Bearer $TOKEN"
  curl -s http://127.0.0.1:%[1]d/api/v1/notifications -H "Authorization: Bearer $TOKEN"
  curl -s http://127.0.0.1:%[1]d/api/v1/wallet -H "Authorization: Bearer $TOKEN"

  # browse the catalog, place an order (202, pending) and read it back
  curl -s 'http://127.0.0.1:%[1]d/api/v1/products?limit=3'
  curl -s -X POST http://127.0.0.1:%[1]d/api/v1/orders -H "Authorization: Bearer $TOKEN" \
       -H 'Content-Type: application/json' -H "Idempotency-Key: $(cat /proc/sys/kernel/random/uuid)" \
       -d '{"items":[{"product_id":"espresso-beans-1kg","quantity":2},{"product_id":"paper-filters-100","quantity":1}]}'
  curl -s http://127.0.0.1:%[1]d/api/v1/orders -H "Authorization: Bearer $TOKEN"

  # a moment later: what was bought with the beans (recommendations, the app in TypeScript)
  curl -s http://127.0.0.1:%[1]d/api/v1/products/espresso-beans-1kg/recommendations

  # bad input gets a problem+json naming each field
  curl -s -X POST http://127.0.0.1:%[1]d/api/v1/users -H 'Content-Type: application/json' -d '{"email":"nope"}'

`

// observeHelp says where to look at the traces and metrics of the system.
func observeHelp(obs []launcher.Observer) string {
	var b strings.Builder
	b.WriteString("Observe it (open in a browser):\n")
	for _, o := range obs {
		switch o.Name {
		case "jaeger":
			fmt.Fprintf(&b, "  traces   %s   (choose service gateway, Find Traces; API: %s/api/traces?service=gateway)\n", o.URL, o.URL)
		case "prometheus":
			fmt.Fprintf(&b, "  metrics  %s   (Status > Targets lists every scraped process)\n", o.URL)
		default:
			fmt.Fprintf(&b, "  %-8s %s\n", o.Name, o.URL)
		}
	}
	b.WriteString("\n")
	return b.String()
}
