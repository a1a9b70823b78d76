package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Not parallel: it installs the global tracer provider and reads
// process-wide counters.
func TestInstrumentNamesSpansAndSeriesByRouteTemplate(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := NewRouter(logger)
	r.Handle("/users/{user}/orders/{id}", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})).Methods(http.MethodGet)
	r.Handle("/healthz", HandleHealthz()).Methods(http.MethodGet)
	internal := Instrument(r)
	public := Instrument(r, PublicEndpoint())

	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	count := func(route, method, code string) float64 {
		return testutil.ToFloat64(httpRequests.WithLabelValues(route, method, code))
	}
	tests := []struct {
		name        string
		h           http.Handler
		path        string
		wantSpan    string // "" for none
		wantRoute   string
		wantCode    string
		wantParent  bool // the caller's trace continued
		wantTraceID bool // a Traceresponse header
	}{
		{"matched route", internal, "/users/u1/orders/o-42", "GET /users/{user}/orders/{id}", "/users/{user}/orders/{id}", "418", true, false},
		{"unknown path", internal, "/nope/123", "GET", UnmatchedRoute, "404", true, false},
		{"health probe", internal, "/healthz", "", "", "", false, false},
		{"public edge only links", public, "/users/u1/orders/o-43", "GET /users/{user}/orders/{id}", "/users/{user}/orders/{id}", "418", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.Reset()
			before := count(tt.wantRoute, http.MethodGet, tt.wantCode)
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.Header.Set("traceparent", parent)
			w := httptest.NewRecorder()
			tt.h.ServeHTTP(w, req)

			spans := rec.Ended()
			if tt.wantSpan == "" {
				assert.Empty(t, spans, "probes make no spans")
				return
			}
			require.Len(t, spans, 1)
			s := spans[0]
			assert.Equal(t, tt.wantSpan, s.Name(), "never the raw path, which holds ids")
			assert.Equal(t, before+1, count(tt.wantRoute, http.MethodGet, tt.wantCode))
			assert.Equal(t, tt.wantParent, s.SpanContext().TraceID().String() == "0af7651916cd43dd8448eb211c80319c", "the caller's trace")
			if tt.wantTraceID {
				assert.Equal(t, "00-"+s.SpanContext().TraceID().String()+"-"+s.SpanContext().SpanID().String()+"-01", w.Header().Get(TraceResponseHeader))
				require.Len(t, s.Links(), 1, "the client's context is a link")
				assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", s.Links()[0].SpanContext.TraceID().String())
			} else {
				assert.Empty(t, w.Header().Get(TraceResponseHeader))
			}
		})
	}
}
