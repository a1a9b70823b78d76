// Command users owns accounts: it registers users and, in the same state
// transaction, publishes user.registered through Dapr's transactional outbox.
//
// Routes (every one but health requires the app API token):
//
//	POST /users       register a user (email unique, password bcrypt-hashed)
//	GET  /users/{id}  read a user
//	POST /sessions    log in: a signed access token (JWT)
//	GET  /healthz     alive
//	GET  /readyz      its sidecar reachable
//
// Environment: APP_HOST (every interface when empty), APP_PORT (8081), DAPR_HOST, DAPR_HTTP_PORT, DAPR_GRPC_PORT,
// DAPR_API_TOKEN and APP_API_TOKEN (required: it refuses to start without
// them, unless DAPRSHOP_INSECURE_NO_TOKENS=1, which it warns about), STATE_STORE (users-store), SECRET_STORE
// (secretstore), JWT_KEY_SECRET (jwt-signing-key: the Ed25519 private key,
// a JWK with its kid), JWT_KEY_MAX_AGE (30s: how long the key is kept
// before it is read again, so a new key is used without a restart), JWT_ISSUER
// (daprshop-users), JWT_AUDIENCE (daprshop), TOKEN_TTL (1h), BCRYPT_COST
// (10), LOG_LEVEL,
// ADMIN_PORT and ADMIN_HOST (127.0.0.1) for /metrics and /debug/pprof/ (no
// admin listener when ADMIN_PORT is unset), OTEL_EXPORTER_OTLP_ENDPOINT
// and the other standard OTEL_* variables (traces; see internal/telemetry).
//
// Dapr components: STATE_STORE, a transactional state store whose outbox
// publishes to user.registered; SECRET_STORE, holding the signing key.
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

	"github.com/google/uuid"

	"github.com/daprshop/daprshop/internal/authtoken"
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
		fmt.Fprintln(os.Stderr, "users:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	port := env.Or(getenv, "APP_PORT", "8081")
	storeName := env.Or(getenv, "STATE_STORE", "users-store")
	appToken := getenv("APP_API_TOKEN")
	ttl, err := env.Duration(getenv, "TOKEN_TTL", "1h")
	if err != nil {
		return err
	}
	cost, err := strconv.Atoi(env.Or(getenv, "BCRYPT_COST", "10"))
	if err != nil {
		return fmt.Errorf("BCRYPT_COST: %w", err)
	}
	logger := logging.New(stdout, "users", getenv("LOG_LEVEL"))
	if err := sidecar.RequireTokens(ctx, getenv, logger, sidecar.DaprTokenVar, sidecar.AppTokenVar); err != nil {
		return err
	}
	stopTelemetry, err := telemetry.Start(ctx, "users", getenv, logger)
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

	keyMaxAge, err := env.Duration(getenv, "JWT_KEY_MAX_AGE", "30s")
	if err != nil {
		return err
	}
	httpClient := sidecar.NewHTTPClient(5 * time.Second)
	issuer := &jwtIssuer{
		keys: sidecar.NewSecret(client, env.Or(getenv, "SECRET_STORE", "secretstore"), env.Or(getenv, "JWT_KEY_SECRET", "jwt-signing-key"), keyMaxAge, time.Now),
		cfg: authtoken.Config{
			Issuer:   env.Or(getenv, "JWT_ISSUER", "daprshop-users"),
			Audience: env.Or(getenv, "JWT_AUDIENCE", "daprshop"),
			TTL:      ttl,
		},
	}
	svc, err := newService(newStateUserStore(state.NewDaprStore(client, storeName)), issuer, time.Now, uuid.NewString, cost)
	if err != nil {
		return err
	}
	checker := sidecar.NewChecker(sc, httpClient)
	srv := web.NewServer(net.JoinHostPort(getenv("APP_HOST"), port), newServer(logger, svc, checker.Ready, appToken))
	delay, err := web.ShutdownDelay(getenv)
	if err != nil {
		return err
	}
	return web.Serve(ctx, srv, logger, delay)
}
