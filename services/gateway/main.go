// Command gateway is the only public entry point. It routes each public
// route to the service that owns it, by HTTP service invocation through its
// own Dapr sidecar (it knows app ids, never addresses).
//
// Routes (public: limited per client address; the others need a bearer
// token and are limited per user):
//
//	POST /api/v1/users          public → users         POST /users
//	POST /api/v1/sessions       public → users         POST /sessions
//	GET  /api/v1/me                    → users         GET  /users/{caller}
//	GET  /api/v1/notifications         → notifications GET  /users/{caller}/notifications
//	GET  /api/v1/wallet                → payments      GET  /users/{caller}/wallet
//	GET  /api/v1/products       public → catalog       GET  /products (query passed on)
//	GET  /api/v1/products/{id}  public → catalog       GET  /products/{id}
//	GET  /api/v1/products/{id}/recommendations
//	                            public → recommendations GET /products/{id}/recommendations (query passed on)
//	POST /api/v1/orders                → orders        POST /users/{caller}/orders (Idempotency-Key passed on)
//	GET  /api/v1/orders                → orders        GET  /users/{caller}/orders
//	GET  /api/v1/orders/{id}           → orders        GET  /users/{caller}/orders/{id}
//	DELETE /api/v1/orders/{id}         → orders        DELETE /users/{caller}/orders/{id}
//	GET  /healthz                      alive
//	GET  /readyz                       its sidecar reachable
//
// Environment: APP_HOST (every interface when empty), APP_PORT (8080, the public port), DAPR_HOST, DAPR_HTTP_PORT,
// DAPR_API_TOKEN (required: it refuses to start without it, unless
// DAPRSHOP_INSECURE_NO_TOKENS=1, which it warns about), INVOKE_TIMEOUT (10s), SECRET_STORE (secretstore),
// JWT_KEYS_SECRET (jwt-verification-keys: the public keys tokens may be
// signed by, a JWK Set; the gateway cannot read the private key),
// JWT_KEYS_MAX_AGE (30s: how long the set is kept before it is read again;
// a token naming a key not in it makes it read the set at once, at most once
// a second), JWT_ISSUER (daprshop-users), JWT_AUDIENCE
// (daprshop), RATE_LIMIT_RPS (10), RATE_LIMIT_BURST (20), CORS_ORIGINS
// (comma-separated; none when empty), BREAKER_FAILURES (5: failures in a
// row that open an app's circuit) and BREAKER_OPEN_FOR (5s: how long it then
// answers 503 itself before one request tries the app again; breaker.go
// says what counts as a failure), LOG_LEVEL,
// ADMIN_PORT and ADMIN_HOST (127.0.0.1) for /metrics and /debug/pprof/ (no
// admin listener when ADMIN_PORT is unset), OTEL_EXPORTER_OTLP_ENDPOINT
// and the other standard OTEL_* variables (traces; see internal/telemetry).
//
// Dapr components: SECRET_STORE, holding the token verification keys; otherwise
// service invocation and name resolution only.
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

	"github.com/daprshop/daprshop/internal/authtoken"
	"github.com/daprshop/daprshop/internal/env"
	"github.com/daprshop/daprshop/internal/logging"
	"github.com/daprshop/daprshop/internal/sidecar"
	"github.com/daprshop/daprshop/internal/telemetry"
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
	port := env.Or(getenv, "APP_PORT", "8080")
	timeout, err := env.Duration(getenv, "INVOKE_TIMEOUT", "10s")
	if err != nil {
		return err
	}
	logger := logging.New(stdout, "gateway", getenv("LOG_LEVEL"))
	// The gateway's routes are public: no sidecar calls it, so it has no app
	// token to check. Its sidecar must still refuse anyone but the gateway.
	if err := sidecar.RequireTokens(ctx, getenv, logger, sidecar.DaprTokenVar); err != nil {
		return err
	}
	stopTelemetry, err := telemetry.Start(ctx, "gateway", getenv, logger)
	if err != nil {
		return err
	}
	defer stopTelemetry()

	sc := sidecar.ConfigFromEnv(getenv)
	httpClient := sidecar.NewHTTPClient(timeout)
	failures, err := strconv.ParseUint(env.Or(getenv, "BREAKER_FAILURES", "5"), 10, 32)
	if err != nil || failures == 0 {
		return fmt.Errorf("BREAKER_FAILURES: want a positive integer, got %q", getenv("BREAKER_FAILURES"))
	}
	openFor, err := env.Duration(getenv, "BREAKER_OPEN_FOR", "5s")
	if err != nil {
		return err
	}
	brk := newBreakers(logger, breakerSettings{Failures: uint32(failures), OpenFor: openFor}, upstreamApps...)
	inv, err := newInvoker(sc, httpClient.Transport, timeout, brk)
	if err != nil {
		return err
	}
	rps, err := strconv.ParseFloat(env.Or(getenv, "RATE_LIMIT_RPS", "10"), 64)
	if err != nil || rps <= 0 {
		return fmt.Errorf("RATE_LIMIT_RPS: want a positive number, got %q", getenv("RATE_LIMIT_RPS"))
	}
	burst, err := strconv.Atoi(env.Or(getenv, "RATE_LIMIT_BURST", "20"))
	if err != nil || burst <= 0 {
		return fmt.Errorf("RATE_LIMIT_BURST: want a positive integer, got %q", getenv("RATE_LIMIT_BURST"))
	}
	keyMaxAge, err := env.Duration(getenv, "JWT_KEYS_MAX_AGE", "30s")
	if err != nil {
		return err
	}
	client, err := sidecar.Dial(sc)
	if err != nil {
		return err
	}
	defer client.Close()
	keys := sidecar.NewSecret(client, env.Or(getenv, "SECRET_STORE", "secretstore"), env.Or(getenv, "JWT_KEYS_SECRET", "jwt-verification-keys"), keyMaxAge, time.Now)
	authn := authenticate(logger, keys, authtoken.Config{
		Issuer:   env.Or(getenv, "JWT_ISSUER", "daprshop-users"),
		Audience: env.Or(getenv, "JWT_AUDIENCE", "daprshop"),
	}, time.Now)

	checker := sidecar.NewChecker(sc, sidecar.NewHTTPClient(2*time.Second))
	srv := web.NewServer(net.JoinHostPort(getenv("APP_HOST"), port), newServer(logger, inv, checker.Ready, authn, newLimiter(rps, burst, time.Now), parseOrigins(getenv("CORS_ORIGINS"))))
	delay, err := web.ShutdownDelay(getenv)
	if err != nil {
		return err
	}
	return web.Serve(ctx, srv, logger, delay)
}
