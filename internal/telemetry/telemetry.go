// Package telemetry sets up what every app reports about itself:
// OpenTelemetry traces exported over OTLP with W3C trace context
// propagation, and an admin listener, apart from the app's own, serving
// Prometheus metrics and pprof.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Tracer is the tracer the project's own spans come from.
func Tracer() trace.Tracer {
	return otel.Tracer("github.com/daprshop/daprshop")
}

// SetupTracing installs the global tracer provider and the W3C propagator
// (traceparent, tracestate, baggage) for the app named service, and returns
// the function that flushes and stops it.
//
// Spans are exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, with the exporter's standard
// variables; without it spans are still made, so trace context still flows
// from caller to callee and log lines still carry trace ids, but nothing is
// sent. OTEL_SDK_DISABLED=true turns spans off altogether (context is still
// passed on). Sampling follows the caller's decision (parent based) and
// samples every new trace; OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
// override it as the SDK documents.
//
// Export errors (a collector that is down) are logged at most once a
// minute: they must not drown the app's log, nor fail a request.
func SetupTracing(ctx context.Context, service string, getenv func(string) string, logger *slog.Logger) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	otel.SetErrorHandler(&throttledErrors{logger: logger, every: time.Minute})
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return func(context.Context) error { return nil }, nil
	}
	res, err := resource.New(ctx,
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
		resource.WithAttributes(semconv.ServiceName(service)),
	)
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		// The exporter reads the endpoint, headers, timeout and TLS
		// settings from the standard OTEL_EXPORTER_OTLP_* variables.
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTLP trace exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// throttledErrors logs OpenTelemetry's internal errors, one per interval;
// the count of those it held back goes with the next one.
type throttledErrors struct {
	logger *slog.Logger
	every  time.Duration

	mu      sync.Mutex
	last    time.Time
	dropped int
}

func (h *throttledErrors) Handle(err error) {
	if errors.Is(err, context.Canceled) {
		return // shutting down
	}
	h.mu.Lock()
	now := time.Now()
	if !h.last.IsZero() && now.Sub(h.last) < h.every {
		h.dropped++
		h.mu.Unlock()
		return
	}
	dropped := h.dropped
	h.last, h.dropped = now, 0
	h.mu.Unlock()
	h.logger.Warn("telemetry export failed", "error", err.Error(), "similar_errors_held_back", dropped)
}

// Start sets up an app's tracing (SetupTracing) and its admin listener
// (StartAdmin on AdminAddr), and returns the function that stops both,
// flushing the spans not yet sent with a deadline of its own (the app's
// context is done by then).
func Start(ctx context.Context, service string, getenv func(string) string, logger *slog.Logger) (stop func(), err error) {
	shutdown, err := SetupTracing(ctx, service, getenv, logger)
	if err != nil {
		return nil, err
	}
	stopAdmin, err := StartAdmin(ctx, AdminAddr(getenv), logger)
	if err != nil {
		_ = shutdown(context.Background())
		return nil, err
	}
	return func() {
		stopAdmin()
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(flushCtx); err != nil {
			logger.Warn("flush traces", "error", err.Error())
		}
	}, nil
}
