package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// The request metrics every app exports, labelled by route template
// ("/users/{user}/orders"), never by raw path: one series per route, not
// one per order id.
var (
	httpRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "daprshop_http_requests_total",
		Help: "HTTP requests the app answered, by route template, method and status code. Health probes are not counted.",
	}, []string{"route", "method", "code"})
	httpDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "daprshop_http_request_duration_seconds",
		Help:    "Time from a request's arrival to its handler's return, by route template and method. Health probes are not counted.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method"})
)

// UnmatchedRoute labels requests no route matched (404 and 405 answers), so
// that scanning for random paths shows as one series.
const UnmatchedRoute = "unmatched"

// InstrumentOption adjusts Instrument.
type InstrumentOption func(*instrumentConfig)

type instrumentConfig struct {
	public bool
}

// TraceResponseHeader tells a client the trace its request started (W3C
// Trace Context Level 2): "00-<trace id>-<span id>-<flags>". Quote the
// trace id when reporting a problem; the trace backend finds it by that id.
const TraceResponseHeader = "Traceresponse"

// PublicEndpoint marks the handler as facing the internet (the gateway):
// trace context a client sends is recorded as a link, not adopted as the
// parent, so no outsider can join or steer the system's traces; and each
// answer names its trace in a Traceresponse header.
func PublicEndpoint() InstrumentOption {
	return func(c *instrumentConfig) { c.public = true }
}

// Instrument wraps an app's whole handler: one server span per request,
// continuing the W3C trace context of the caller (its sidecar), named by
// the matched route template once the router has matched (NewRouter
// installs the naming middleware), and the request metrics above. Health
// probes (/healthz, /readyz, every 2 s from each sidecar) make neither
// spans nor samples.
func Instrument(next http.Handler, opts ...InstrumentOption) http.Handler {
	var cfg instrumentConfig
	for _, o := range opts {
		o(&cfg)
	}
	measured := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cfg.public {
			if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
				w.Header().Set(TraceResponseHeader, "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-"+sc.TraceFlags().String())
			}
		}
		info := &routeInfo{route: UnmatchedRoute}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		began := time.Now()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), routeInfoKey{}, info)))
		httpRequests.WithLabelValues(info.route, r.Method, strconv.Itoa(rec.status)).Inc()
		httpDuration.WithLabelValues(info.route, r.Method).Observe(time.Since(began).Seconds())
	})
	otelOpts := []otelhttp.Option{
		// Until the route is known the span is named by its method only
		// (the semantic conventions' name for an unmatched request).
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
		otelhttp.WithFilter(func(r *http.Request) bool { return !isProbe(r) }),
	}
	if cfg.public {
		otelOpts = append(otelOpts, otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }))
	}
	traced := otelhttp.NewHandler(measured, "", otelOpts...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isProbe(r) {
			next.ServeHTTP(w, r)
			return
		}
		traced.ServeHTTP(w, r)
	})
}

func isProbe(r *http.Request) bool {
	return r.URL.Path == "/healthz" || r.URL.Path == "/readyz"
}

// routeInfo carries the matched route template from inside the router
// back out to Instrument.
type routeInfo struct{ route string }

type routeInfoKey struct{}

// nameByRoute runs once the router has matched: it names the request's
// span "METHOD /route/{template}" and tells Instrument the route.
func nameByRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if route := mux.CurrentRoute(r); route != nil {
			if tmpl, err := route.GetPathTemplate(); err == nil {
				if info, ok := r.Context().Value(routeInfoKey{}).(*routeInfo); ok {
					info.route = tmpl
				}
				span := trace.SpanFromContext(r.Context())
				span.SetName(r.Method + " " + tmpl)
				span.SetAttributes(attribute.String("http.route", tmpl))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status code written. Unwrap lets
// http.ResponseController reach the real writer (flushes, deadlines).
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
