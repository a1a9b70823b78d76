// Command orders takes orders. POST /users/{user}/orders accepts an order
// once per Idempotency-Key (scoped per user), prices it with the catalog
// (HTTP service invocation through the sidecar) and keeps it pending: the
// checkout saga that moves it on comes next.
//
// Routes (every one but health requires the app API token):
//
//	POST /users/{user}/orders        place an order (header Idempotency-Key)
//	GET  /users/{user}/orders        the user's orders, newest first (limit, cursor)
//	GET  /users/{user}/orders/{id}   one of the user's orders
//	GET  /healthz                    alive
//	GET  /readyz                     its sidecar reachable
//
// Environment: APP_HOST (every interface when empty), APP_PORT (8083),
// DAPR_HOST, DAPR_HTTP_PORT, DAPR_GRPC_PORT, DAPR_API_TOKEN, APP_API_TOKEN,
// STATE_STORE (orders-store), CATALOG_APP_ID (catalog), INVOKE_TIMEOUT
// (3s, per catalog call), LOG_LEVEL.
//
// Dapr components: STATE_STORE, a transactional state store.
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

	"github.com/google/uuid"

	"github.com/daprshop/daprshop/internal/env"
	"github.com/daprshop/daprshop/internal/logging"
	"github.com/daprshop/daprshop/internal/sidecar"
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
	timeout, err := time.ParseDuration(env.Or(getenv, "INVOKE_TIMEOUT", "3s"))
	if err != nil || timeout <= 0 {
		return fmt.Errorf("INVOKE_TIMEOUT: want a positive duration such as 3s, got %q", getenv("INVOKE_TIMEOUT"))
	}
	appToken := getenv("APP_API_TOKEN")
	logger := logging.New(stdout, "orders", getenv("LOG_LEVEL"))

	sc := sidecar.ConfigFromEnv(getenv)
	client, err := sidecar.Dial(sc)
	if err != nil {
		return err
	}
	defer client.Close()

	cat := newDaprCatalog(sc, catalogApp, sidecar.NewHTTPClient(timeout))
	svc := newService(newDaprOrderStore(client, storeName), cat, time.Now, uuid.NewString)
	checker := sidecar.NewChecker(sc, sidecar.NewHTTPClient(2*time.Second))
	srv := web.NewServer(net.JoinHostPort(getenv("APP_HOST"), port), newServer(logger, svc, checker.Ready, appToken))
	return web.Serve(ctx, srv, logger)
}
