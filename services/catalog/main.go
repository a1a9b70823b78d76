// Command catalog sells from a fixed catalog of products, each with its
// stock. It seeds the catalog at start-up, insert-only, so that a restart
// never resets stock that has moved, and serves browsing through a short
// read-through cache. It is the stock participant of the checkout saga
// (TCC): per order it reserves stock (try), sells it (confirm) or releases
// it (cancel), each idempotent behind a barrier, and it releases
// reservations that outlive RESERVATION_TTL.
//
// Routes (every one but health requires the app API token):
//
//	GET  /products?limit=&cursor=        a page of products, sorted by id
//	GET  /products/{id}                  one product
//	POST /reservations/{order}/try       reserve {"items":[{"product_id","quantity"}]}
//	POST /reservations/{order}/confirm   sell the reserved units
//	POST /reservations/{order}/cancel    release them (blocks a try still to come)
//	GET  /reservations/{order}           one order's reservation
//	GET  /reservations?status=reserved   every reservation holding stock
//	GET  /stock                          available, reserved and sold of every product
//	PUT  /products/{id}/receipts/{receipt}  goods received: {"units": n}, once per receipt
//	GET  /healthz                        alive
//	GET  /readyz                         its sidecar reachable and the catalog seeded
//
// Environment: APP_HOST (every interface when empty), APP_PORT (8082),
// DAPR_HOST, DAPR_HTTP_PORT, DAPR_GRPC_PORT, DAPR_API_TOKEN and APP_API_TOKEN
// (required: it refuses to start without them, unless
// DAPRSHOP_INSECURE_NO_TOKENS=1, which it warns about),
// STATE_STORE (catalog-store), CACHE_TTL (2s, a Go duration > 0),
// RESERVATION_TTL (2m, > 0: how long a reservation holds stock unconfirmed),
// SWEEP_INTERVAL (1s, > 0: how often expired reservations are released),
// LOG_LEVEL,
// ADMIN_PORT and ADMIN_HOST (127.0.0.1) for /metrics and /debug/pprof/ (no
// admin listener when ADMIN_PORT is unset), OTEL_EXPORTER_OTLP_ENDPOINT
// and the other standard OTEL_* variables (traces; see internal/telemetry).
// Faults, off by default, for tests and demos of the saga's
// retries and compensations: FAULT_FAILURE_RATE (0 to 1: that fraction of
// try, confirm and cancel calls answer 503 before doing anything),
// FAULT_LATENCY (a Go duration added before each of them), FAULT_STEP (try,
// confirm or cancel: that step always answers 503).
//
// Dapr components: STATE_STORE, a transactional state store with ETags and
// bulk reads: one record per product (product-<id>), the index of ids
// (product-index), one record per reservation (reservation-<order>), 16
// shards of the index of held reservations (reservation-held-<nn>) and the
// barrier's records (barrier-<order>-reserve-<op>).
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

	"github.com/daprshop/daprshop/internal/barrier"
	"github.com/daprshop/daprshop/internal/env"
	"github.com/daprshop/daprshop/internal/faults"
	"github.com/daprshop/daprshop/internal/logging"
	"github.com/daprshop/daprshop/internal/sidecar"
	"github.com/daprshop/daprshop/internal/state"
	"github.com/daprshop/daprshop/internal/telemetry"
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
	ttl, err := env.Duration(getenv, "CACHE_TTL", "2s")
	if err != nil {
		return err
	}
	reservationTTL, err := env.Duration(getenv, "RESERVATION_TTL", "2m")
	if err != nil {
		return err
	}
	sweepInterval, err := env.Duration(getenv, "SWEEP_INTERVAL", "1s")
	if err != nil {
		return err
	}
	f, err := faults.Parse(getenv, "try", "confirm", "cancel")
	if err != nil {
		return err
	}
	appToken := getenv("APP_API_TOKEN")
	logger := logging.New(stdout, "catalog", getenv("LOG_LEVEL"))
	if err := sidecar.RequireTokens(ctx, getenv, logger, sidecar.DaprTokenVar, sidecar.AppTokenVar); err != nil {
		return err
	}
	stopTelemetry, err := telemetry.Start(ctx, "catalog", getenv, logger)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	if f.On() {
		logger.WarnContext(ctx, "fault injection is on: reservations fail or slow down on purpose", "faults", f)
	}

	sc := sidecar.ConfigFromEnv(getenv)
	client, err := sidecar.Dial(sc)
	if err != nil {
		return err
	}
	defer client.Close()

	records := state.NewDaprStore(client, storeName)
	products := newStateProductStore(records)
	cached := newCache(products, ttl, time.Now)
	svc := newService(cached)
	res := newReservations(records, products, cached.Invalidate, time.Now, reservationTTL, svc.requireSeeded, barrier.WithLogger(logger))
	checker := sidecar.NewChecker(sc, sidecar.NewHTTPClient(2*time.Second))
	ready := allReady(checker.Ready, svc.Ready)

	// Seed and sweep in the background, and stop both (before the client
	// closes) when serving ends, whether by a signal or a failure.
	bgCtx, stopBackground := context.WithCancel(ctx)
	var background sync.WaitGroup
	defer background.Wait()
	defer stopBackground()
	background.Go(func() { _ = seedUntilDone(bgCtx, logger, svc, seedProducts, seedBackoff) })
	ticker := time.NewTicker(sweepInterval)
	defer ticker.Stop()
	background.Go(func() { sweepUntilDone(bgCtx, logger, ticker.C, res.Sweep) })

	srv := web.NewServer(net.JoinHostPort(getenv("APP_HOST"), port), newServer(logger, svc, res, f, ready, appToken))
	delay, err := web.ShutdownDelay(getenv)
	if err != nil {
		return err
	}
	return web.Serve(ctx, srv, logger, delay)
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
