// Command payments keeps wallets and takes part in the checkout saga. A new
// user's wallet is created, with a starting credit, when payments consumes
// user.registered: an asynchronous flow, with no call from users to
// payments. The orders service's saga charges an order (wallet to merchant)
// and, to compensate, refunds it; both are idempotent per order through a
// barrier (internal/barrier) kept in the same state transactions as the
// money, so that money is never created or lost, an order is charged at
// most once, and a refund that overtakes its charge blocks it for good.
//
// Routes (every one but health requires the app API token):
//
//	GET  /users/{id}/wallet          a user's wallet
//	POST /charges/{order}            charge an order: {"user_id","amount_cents"}
//	POST /charges/{order}/refund     refund it (no body, or {})
//	GET  /charges/{order}            an order's charge
//	GET  /merchant                   the merchant's balance
//	POST /events/user-registered     subscription route for user.registered
//	GET  /healthz                    alive
//	GET  /readyz                     its sidecar reachable
//
// Environment: APP_HOST (every interface when empty), APP_PORT (8084),
// DAPR_HOST, DAPR_HTTP_PORT, DAPR_GRPC_PORT, DAPR_API_TOKEN and APP_API_TOKEN
// (required: it refuses to start without them, unless
// DAPRSHOP_INSECURE_NO_TOKENS=1, which it warns about),
// STATE_STORE (payments-store), STARTING_CREDIT_CENTS (100000), LOG_LEVEL,
// ADMIN_PORT and ADMIN_HOST (127.0.0.1) for /metrics and /debug/pprof/ (no
// admin listener when ADMIN_PORT is unset), OTEL_EXPORTER_OTLP_ENDPOINT
// and the other standard OTEL_* variables (traces; see internal/telemetry).
// Fault injection, off by default, for watching the saga recover:
// FAULT_FAILURE_RATE (0; a fraction from 0 to 1 of charge and refund calls
// answered 503 before anything is done), FAULT_LATENCY (0s; a Go duration
// added before each charge and refund), FAULT_STEP (empty; charge or
// refund: every call of that step is answered 503).
//
// Dapr components: STATE_STORE, a transactional state store with ETags and
// bulk reads (the records are laid out in ledger.go); the pub/sub named in
// dapr/resources/subscriptions.yaml.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
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
		fmt.Fprintln(os.Stderr, "payments:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	port := env.Or(getenv, "APP_PORT", "8084")
	storeName := env.Or(getenv, "STATE_STORE", "payments-store")
	credit, err := strconv.ParseInt(env.Or(getenv, "STARTING_CREDIT_CENTS", "100000"), 10, 64)
	if err != nil || credit < 0 {
		return fmt.Errorf("STARTING_CREDIT_CENTS: want a whole number of cents ≥ 0, got %q", getenv("STARTING_CREDIT_CENTS"))
	}
	f, err := faults.Parse(getenv, stepCharge, stepRefund)
	if err != nil {
		return err
	}
	appToken := getenv("APP_API_TOKEN")
	logger := logging.New(stdout, "payments", getenv("LOG_LEVEL"))
	if err := sidecar.RequireTokens(ctx, getenv, logger, sidecar.DaprTokenVar, sidecar.AppTokenVar); err != nil {
		return err
	}
	stopTelemetry, err := telemetry.Start(ctx, "payments", getenv, logger)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	if f.On() {
		logger.WarnContext(ctx, "fault injection is on: charges and refunds fail or slow down on purpose", "faults", f)
	}

	sc := sidecar.ConfigFromEnv(getenv)
	client, err := sidecar.Dial(sc)
	if err != nil {
		return err
	}
	defer client.Close()

	svc := newService(state.NewDaprStore(client, storeName), time.Now, credit, barrier.WithLogger(logger))
	checker := sidecar.NewChecker(sc, sidecar.NewHTTPClient(2*time.Second))
	srv := web.NewServer(net.JoinHostPort(getenv("APP_HOST"), port), newServer(logger, svc, f, checker.Ready, appToken))
	delay, err := web.ShutdownDelay(getenv)
	if err != nil {
		return err
	}
	return web.Serve(ctx, srv, logger, delay)
}
