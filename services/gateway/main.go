// Command gateway is the only public entry point. It routes each public
// route to the service that owns it, by HTTP service invocation through its
// own Dapr sidecar (it knows app ids, never addresses).
//
// Routes:
//
//	POST /api/v1/users                     → users         POST /users
//	GET  /api/v1/users/{id}/notifications  → notifications GET  /users/{id}/notifications
//	GET  /healthz                          alive
//	GET  /readyz                           its sidecar reachable
//
// Environment: APP_PORT (8080, the public port), DAPR_HOST, DAPR_HTTP_PORT,
// DAPR_API_TOKEN, INVOKE_TIMEOUT (10s), LOG_LEVEL.
//
// Dapr components: none; service invocation and name resolution only.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/daprshop/daprshop/internal/logging"
	"github.com/daprshop/daprshop/internal/sidecar"
	"github.com/daprshop/daprshop/internal/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	port := envOr(getenv, "APP_PORT", "8080")
	timeout, err := time.ParseDuration(envOr(getenv, "INVOKE_TIMEOUT", "10s"))
	if err != nil {
		return fmt.Errorf("INVOKE_TIMEOUT: %w", err)
	}
	logger := logging.New(stdout, "gateway", getenv("LOG_LEVEL"))

	sc := sidecar.ConfigFromEnv(getenv)
	httpClient := sidecar.NewHTTPClient(timeout)
	inv, err := newInvoker(sc, httpClient.Transport, timeout)
	if err != nil {
		return err
	}
	checker := sidecar.NewChecker(sc, sidecar.NewHTTPClient(2*time.Second))
	srv := web.NewServer(":"+port, newServer(logger, inv, checker.Ready))
	return web.Serve(ctx, srv, logger)
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
