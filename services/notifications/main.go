// Command notifications keeps each user's inbox, fed by events that Dapr
// delivers through declarative subscriptions. Each event is applied once,
// however often it is delivered: its CloudEvent id is recorded in the same
// state transaction as the inbox change.
//
// Routes (every one but health requires the app API token):
//
//	GET  /users/{id}/notifications  a user's inbox, newest first
//	POST /events/user-registered    subscription route for user.registered
//	POST /events/order-completed    subscription route for order.completed
//	POST /events/order-cancelled    subscription route for order.cancelled
//	GET  /healthz                   alive
//	GET  /readyz                    its sidecar reachable
//
// Environment: APP_HOST (every interface when empty), APP_PORT (8085), DAPR_HOST, DAPR_HTTP_PORT, DAPR_GRPC_PORT,
// DAPR_API_TOKEN and APP_API_TOKEN (required: it refuses to start without
// them, unless DAPRSHOP_INSECURE_NO_TOKENS=1, which it warns about), STATE_STORE (notifications-store), LOG_LEVEL,
// ADMIN_PORT and ADMIN_HOST (127.0.0.1) for /metrics and /debug/pprof/ (no
// admin listener when ADMIN_PORT is unset), OTEL_EXPORTER_OTLP_ENDPOINT
// and the other standard OTEL_* variables (traces; see internal/telemetry).
//
// Dapr components: STATE_STORE, a transactional state store; the pub/sub
// named in dapr/resources/subscriptions.yaml.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

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
		fmt.Fprintln(os.Stderr, "notifications:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	port := env.Or(getenv, "APP_PORT", "8085")
	storeName := env.Or(getenv, "STATE_STORE", "notifications-store")
	appToken := getenv("APP_API_TOKEN")
	logger := logging.New(stdout, "notifications", getenv("LOG_LEVEL"))
	if err := sidecar.RequireTokens(ctx, getenv, logger, sidecar.DaprTokenVar, sidecar.AppTokenVar); err != nil {
		return err
	}
	stopTelemetry, err := telemetry.Start(ctx, "notifications", getenv, logger)
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

	svc := newService(newStateInboxStore(state.NewDaprStore(client, storeName)), time.Now)
	checker := sidecar.NewChecker(sc, sidecar.NewHTTPClient(2*time.Second))
	srv := web.NewServer(net.JoinHostPort(getenv("APP_HOST"), port), newServer(logger, svc, checker.Ready, appToken))
	delay, err := web.ShutdownDelay(getenv)
	if err != nil {
		return err
	}
	return web.Serve(ctx, srv, logger, delay)
}
