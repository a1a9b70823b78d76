// Command catalog sells from a fixed catalog of products, each with its
// stock. It seeds the catalog at start-up, insert-only, so that a restart
// never resets stock that has moved, and serves browsing through a short
// read-through cache.
//
// Routes (every one but health requires the app API token):
//
//	GET  /products?limit=&cursor=   a page of products, sorted by id
//	GET  /products/{id}             one product
//	GET  /healthz                   alive
//	GET  /readyz                    its sidecar reachable and the catalog seeded
//
// Environment: APP_HOST (every interface when empty), APP_PORT (8082),
// DAPR_HOST, DAPR_HTTP_PORT, DAPR_GRPC_PORT, DAPR_API_TOKEN, APP_API_TOKEN,
// STATE_STORE (catalog-store), CACHE_TTL (2s, a Go duration > 0), LOG_LEVEL.
//
// Dapr components: STATE_STORE, a state store with ETags and bulk reads
// (one record per product, product-<id>, and the index of ids,
// product-index).
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/daprshop/daprshop/internal/env"
	"github.com/daprshop/daprshop/internal/logging"
	"github.com/daprshop/daprshop/internal/sidecar"
	"github.com/daprshop/daprshop/internal/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "catalog:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	port := env.Or(getenv, "APP_PORT", "8082")
	storeName := env.Or(getenv, "STATE_STORE", "catalog-store")
	ttl, err := time.ParseDuration(env.Or(getenv, "CACHE_TTL", "2s"))
	if err != nil || ttl <= 0 {
		return fmt.Errorf("CACHE_TTL: want a Go duration > 0 such as 2s, got %q", getenv("CACHE_TTL"))
	}
	appToken := getenv("APP_API_TOKEN")
	logger := logging.New(stdout, "catalog", getenv("LOG_LEVEL"))

	sc := sidecar.ConfigFromEnv(getenv)
	client, err := sidecar.Dial(sc)
	if err != nil {
		return err
	}
	defer client.Close()

	svc := newService(newCache(newDaprProductStore(client, storeName), ttl, time.Now))
	checker := sidecar.NewChecker(sc, sidecar.NewHTTPClient(2*time.Second))
	ready := allReady(checker.Ready, svc.Ready)

	// Seed in the background, and stop it (before the client closes) when
	// serving ends, whether by a signal or a failure.
	seedCtx, stopSeed := context.WithCancel(ctx)
	var seeding sync.WaitGroup
	defer seeding.Wait()
	defer stopSeed()
	seeding.Go(func() { _ = seedUntilDone(seedCtx, logger, svc, seedProducts, seedBackoff) })

	srv := web.NewServer(net.JoinHostPort(getenv("APP_HOST"), port), newServer(logger, svc, ready, appToken))
	return web.Serve(ctx, srv, logger)
}

// allReady is ready when every check is, in order.
func allReady(checks ...func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, check := range checks {
			if err := check(ctx); err != nil {
				return err
			}
		}
		return nil
	}
}
