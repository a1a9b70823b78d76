package telemetry

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAdminHandlerServesMetricsAndProfiles(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "daprshop_test_total", Help: "a test counter"})
	reg.MustRegister(c)
	c.Inc()
	h := AdminHandler(reg)
	tests := []struct {
		path, want string
	}{
		{"/metrics", "daprshop_test_total 1"},
		{"/debug/pprof/", "goroutine"},
		{"/debug/pprof/cmdline", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
			require.Equal(t, http.StatusOK, w.Code)
			assert.Contains(t, w.Body.String(), tt.want)
		})
	}
}

func TestAdminAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"off without a port", map[string]string{"ADMIN_HOST": "0.0.0.0"}, ""},
		{"loopback by default", map[string]string{"ADMIN_PORT": "9110"}, "127.0.0.1:9110"},
		{"every interface in a pod", map[string]string{"ADMIN_PORT": "9110", "ADMIN_HOST": "0.0.0.0"}, "0.0.0.0:9110"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, AdminAddr(func(k string) string { return tt.env[k] }))
		})
	}
}

func TestThrottledErrorsLogOncePerInterval(t *testing.T) {
	t.Parallel()
	var log strings.Builder
	h := &throttledErrors{logger: slog.New(slog.NewTextHandler(&log, nil)), every: time.Hour}
	for range 5 {
		h.Handle(errors.New("connection refused"))
	}
	assert.Equal(t, 1, strings.Count(log.String(), "telemetry export failed"), "a collector that is down does not flood the log")
	h.last = time.Now().Add(-2 * time.Hour)
	h.Handle(errors.New("connection refused"))
	assert.Contains(t, log.String(), "similar_errors_held_back=4")
}
