// Command orders takes orders and checks them out. POST /users/{user}/orders
// accepts an order once per Idempotency-Key (scoped per user), prices it
// with the catalog (HTTP service invocation through the sidecar) and starts
// its checkout saga on Dapr Workflow (saga.go): reserve stock, charge,
// confirm, or compensate; the result is published as order.completed or
// order.cancelled.
//
// Routes (every one but health requires the app API token):
//
//	POST /users/{user}/orders        place an order (header Idempotency-Key)
//	GET  /users/{user}/orders        the user's orders, newest first (limit, cursor)
//	GET  /users/{user}/orders/{id}   one of the user's orders, with its saga steps
//	DELETE /users/{user}/orders/{id} cancel a pending order (the saga compensates)
//	GET  /healthz                    alive
//	GET  /readyz                     its sidecar reachable
//
// Environment: APP_HOST (every interface when empty), APP_PORT (8083),
// DAPR_HOST, DAPR_HTTP_PORT, DAPR_GRPC_PORT, DAPR_API_TOKEN and APP_API_TOKEN
// (required: it refuses to start without them, unless
// DAPRSHOP_INSECURE_NO_TOKENS=1, which it warns about),
// STATE_STORE (orders-store), CATALOG_APP_ID (catalog), PAYMENTS_APP_ID
// (payments), PUBSUB (pubsub), INVOKE_TIMEOUT (3s, per call to another
// app), LOG_LEVEL,
// ADMIN_PORT and ADMIN_HOST (127.0.0.1) for /metrics and /debug/pprof/ (no
// admin listener when ADMIN_PORT is unset), OTEL_EXPORTER_OTLP_ENDPOINT
// and the other standard OTEL_* variables (traces; see internal/telemetry).
//
// Dapr components: STATE_STORE, a transactional state store that is also
// the actor state store (Dapr Workflow keeps the sagas' history there);
// PUBSUB, for order.completed and order.cancelled.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dapr/durabletask-go/workflow"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/env"
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
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	port := env.Or(getenv, "APP_PORT", "8083")
	storeName := env.Or(getenv, "STATE_STORE", "orders-store")
	catalogApp := env.Or(getenv, "CATALOG_APP_ID", "catalog")
	paymentsApp := env.Or(getenv, "PAYMENTS_APP_ID", "payments")
	pubsubName := env.Or(getenv, "PUBSUB", "pubsub")
	timeout, err := env.Duration(getenv, "INVOKE_TIMEOUT", "3s")
	if err != nil {
		return err
	}
	appToken := getenv("APP_API_TOKEN")
	logger := logging.New(stdout, "orders", getenv("LOG_LEVEL"))
	if err := sidecar.RequireTokens(ctx, getenv, logger, sidecar.DaprTokenVar, sidecar.AppTokenVar); err != nil {
		return err
	}
	stopTelemetry, err := telemetry.Start(ctx, "orders", getenv, logger)
	if err != nil {
		return err
	}
	defer stopTelemetry()

	sc := sidecar.ConfigFromEnv(getenv)
	client, err := sidecar.Dial(sc)
	if err != nil {
		return err
	}
	defer client.Close()

	store := newStateOrderStore(state.NewDaprStore(client, storeName))
	httpClient := sidecar.NewHTTPClient(timeout)
	cat := newDaprCatalog(sc, catalogApp, httpClient)
	wf := workflow.NewClient(client.GrpcClientConn())
	tracker := newSagaTracker(time.Now)
	if err := prometheus.Register(tracker); err != nil {
		return fmt.Errorf("register the saga metrics: %w", err)
	}
	defer prometheus.Unregister(tracker)
	svc := newService(store, cat, &daprCheckouts{wf: wf, tracker: tracker}, time.Now, uuid.NewString)

	sg := &saga{
		store:   store,
		parts:   &daprParticipants{iv: newInvoker(sc, httpClient), catalogApp: catalogApp, paymentsApp: paymentsApp},
		events:  &daprPublisher{client: client, pubsub: pubsubName, source: "orders"},
		now:     time.Now,
		tracker: tracker,
	}
	registry := workflow.NewRegistry()
	if err := sg.register(registry); err != nil {
		return fmt.Errorf("register the checkout workflow: %w", err)
	}
	var working atomic.Bool
	go runWorker(ctx, logger, wf, registry, &working)

	checker := sidecar.NewChecker(sc, sidecar.NewHTTPClient(2*time.Second))
	ready := func(ctx context.Context) error {
		if err := checker.Ready(ctx); err != nil {
			return err
		}
		if !working.Load() {
			return apperr.E(apperr.Unavailable, "the checkout workflow worker is not connected yet")
		}
		return nil
	}
	srv := web.NewServer(net.JoinHostPort(getenv("APP_HOST"), port), newServer(logger, svc, ready, appToken))
	delay, err := web.ShutdownDelay(getenv)
	if err != nil {
		return err
	}
	return web.Serve(ctx, srv, logger, delay)
}

// runWorker connects the workflow worker to the sidecar, retrying until it
// is up (the app may start first); once connected, the worker reconnects
// by itself.
func runWorker(ctx context.Context, logger *slog.Logger, wf *workflow.Client, r *workflow.Registry, working *atomic.Bool) {
	delay := 250 * time.Millisecond
	for {
		err := wf.StartWorker(ctx, r)
		if err == nil {
			working.Store(true)
			logger.InfoContext(ctx, "checkout workflow worker connected")
			return
		}
		logger.DebugContext(ctx, "workflow worker not connected yet", "error", err.Error())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
