package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/daprshop/daprshop/internal/logging"
)

func TestTraceIDsAddedFromContext(t *testing.T) {
	t.Parallel()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))

	tests := []struct {
		name      string
		ctx       context.Context
		wantTrace string
	}{
		{"with span", ctx, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"without span", context.Background(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logging.New(&buf, "users", "info").With("k", "v").InfoContext(tt.ctx, "user created")
			var rec map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
			assert.Equal(t, "users", rec["service"])
			assert.Equal(t, "user created", rec["msg"])
			if tt.wantTrace == "" {
				assert.NotContains(t, rec, "trace_id")
				return
			}
			assert.Equal(t, tt.wantTrace, rec["trace_id"])
			assert.Equal(t, "00f067aa0ba902b7", rec["span_id"])
		})
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := logging.New(&buf, "x", "warn")
	l.Info("hidden")
	assert.Empty(t, buf.String())
	l.Warn("shown")
	assert.Contains(t, buf.String(), "shown")
}
