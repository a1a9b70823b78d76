// Package sidecar connects an app to its own Dapr sidecar: the go-sdk client
// for state, publish and secrets over gRPC, an HTTP client for service
// invocation, and the readiness check. It is the only place that knows how
// the Dapr API token travels.
package sidecar

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"

	"github.com/daprshop/daprshop/internal/apperr"
)

// TokenHeader carries the Dapr API token, on gRPC metadata and HTTP alike.
const TokenHeader = "dapr-api-token"

// Config says where the sidecar listens and which token it wants.
type Config struct {
	Host     string // usually 127.0.0.1
	HTTPPort string
	GRPCPort string
	APIToken string
}

// HTTPBase returns the base URL of the sidecar's HTTP API.
func (c Config) HTTPBase() string {
	return "http://" + net.JoinHostPort(c.Host, c.HTTPPort)
}

// Dial returns a go-sdk client for the sidecar without waiting for it: the
// connection is made lazily and re-made when the sidecar restarts, so an app
// may start before its sidecar (the go-sdk's NewClientWithAddress blocks
// instead, and fails the app if the sidecar is late).
//
// The token is attached by our own interceptor because the go-sdk adds its
// interceptors only in NewClientWithAddress, and they replace the outgoing
// metadata (dropping trace context) instead of appending to it.
func Dial(c Config) (dapr.Client, error) {
	conn, err := grpc.NewClient(net.JoinHostPort(c.Host, c.GRPCPort),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(withToken(ctx, c.APIToken), method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(withToken(ctx, c.APIToken), desc, cc, method, opts...)
		}),
		// A client span per call, and the W3C traceparent in the call's
		// metadata, which daprd continues (into the CloudEvent it publishes,
		// the workflow it starts, the state it saves).
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithFilter(tracedCall))),
	)
	if err != nil {
		return nil, fmt.Errorf("dial sidecar gRPC port %s: %w", c.GRPCPort, err)
	}
	return dapr.NewClientWithConnection(conn), nil
}

// tracedCall leaves out of traces the workflow worker's long-lived stream
// of work items, which would be one span as long as the app's life.
func tracedCall(info *stats.RPCTagInfo) bool {
	return !strings.HasSuffix(info.FullMethodName, "/GetWorkItems")
}

func withToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, TokenHeader, token)
}

// NewHTTPClient returns the one HTTP client an app uses to talk to its
// sidecar: a shared transport so connections are reused, and a timeout on
// every call so a stuck sidecar cannot hold a request forever.
//
// Every call is a client span, and carries the W3C traceparent so that the
// sidecar, and the app it invokes, continue the caller's trace. The span
// is named by method and target app ("POST catalog"), never by the path,
// which holds ids.
func NewHTTPClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	traced := otelhttp.NewTransport(t, otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
		return r.Method + " " + targetApp(r)
	}))
	return &http.Client{Transport: traced, Timeout: timeout}
}

// targetApp names who a request to the sidecar is for: the app of a
// service invocation (/v1.0/invoke/<app>/method/..., or the dapr-app-id
// header), else the sidecar itself.
func targetApp(r *http.Request) string {
	if id := r.Header.Get("dapr-app-id"); id != "" {
		return id
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/v1.0/invoke/"); ok {
		if app, _, ok := strings.Cut(rest, "/"); ok && app != "" {
			return app
		}
	}
	return "dapr"
}

// Checker tells whether the sidecar is up for outbound calls, and that it
// guards its API with the token the app holds.
type Checker struct {
	cfg    Config
	client *http.Client
	// guarded is set once the sidecar has refused a call without the token.
	guarded atomic.Bool
}

// NewChecker returns a readiness check against the sidecar c.
func NewChecker(c Config, client *http.Client) *Checker {
	return &Checker{cfg: c, client: client}
}

// Ready asks the sidecar's outbound health endpoint, which answers once the
// sidecar can serve the app's calls, independently of the app's own health
// (so there is no circular wait between app and sidecar). An app that holds
// a token is not ready until its sidecar has once refused a call without it:
// a daprd started without DAPR_API_TOKEN (a run file's `env:` reaches the
// app, never daprd) would serve any local process.
func (ch *Checker) Ready(ctx context.Context) error {
	if err := ch.healthy(ctx); err != nil {
		return err
	}
	if ch.cfg.APIToken == "" || ch.guarded.Load() {
		return nil
	}
	return ch.checkGuarded(ctx)
}

// checkGuarded calls the sidecar's metadata API without the token.
func (ch *Checker) checkGuarded(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ch.cfg.HTTPBase()+"/v1.0/metadata", nil)
	if err != nil {
		return err
	}
	resp, err := ch.client.Do(req)
	if err != nil {
		return fmt.Errorf("sidecar metadata: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		ch.guarded.Store(true)
		return nil
	case http.StatusOK:
		return apperr.E(apperr.Unavailable, "the sidecar answers without DAPR_API_TOKEN: start daprd with it in its environment (make run does; for dapr run -f, source the file make infra writes)")
	default:
		return fmt.Errorf("sidecar metadata without a token: status %d", resp.StatusCode)
	}
}

// healthy asks the sidecar's outbound health endpoint.
func (ch *Checker) healthy(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ch.cfg.HTTPBase()+"/v1.0/healthz/outbound", nil)
	if err != nil {
		return err
	}
	resp, err := ch.client.Do(req)
	if err != nil {
		return fmt.Errorf("sidecar health: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sidecar health: status %d", resp.StatusCode)
	}
	return nil
}

// ConfigFromEnv reads the sidecar's address and token from the variables the
// launcher and the Dapr CLI set for every app.
func ConfigFromEnv(getenv func(string) string) Config {
	c := Config{
		Host:     getenv("DAPR_HOST"),
		HTTPPort: getenv("DAPR_HTTP_PORT"),
		GRPCPort: getenv("DAPR_GRPC_PORT"),
		APIToken: getenv("DAPR_API_TOKEN"),
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.HTTPPort == "" {
		c.HTTPPort = "3500"
	}
	if c.GRPCPort == "" {
		c.GRPCPort = "50001"
	}
	return c
}
