package faults

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    Faults
		on      bool
		wantErr string
	}{
		{"off by default", nil, Faults{}, false, ""},
		{"explicitly off", map[string]string{"FAULT_FAILURE_RATE": "0", "FAULT_LATENCY": "0s"}, Faults{}, false, ""},
		{"all set", map[string]string{"FAULT_FAILURE_RATE": "0.25", "FAULT_LATENCY": "150ms", "FAULT_STEP": "cancel"}, Faults{FailureRate: 0.25, Latency: 150 * time.Millisecond, Step: "cancel"}, true, ""},
		{"rate of one", map[string]string{"FAULT_FAILURE_RATE": "1"}, Faults{FailureRate: 1}, true, ""},
		{"latency only", map[string]string{"FAULT_LATENCY": "150ms"}, Faults{Latency: 150 * time.Millisecond}, true, ""},
		{"a failing step", map[string]string{"FAULT_STEP": "try"}, Faults{Step: "try"}, true, ""},
		{"negative rate", map[string]string{"FAULT_FAILURE_RATE": "-0.1"}, Faults{}, false, "FAULT_FAILURE_RATE"},
		{"rate over one", map[string]string{"FAULT_FAILURE_RATE": "1.5"}, Faults{}, false, "FAULT_FAILURE_RATE"},
		{"rate not a number", map[string]string{"FAULT_FAILURE_RATE": "NaN"}, Faults{}, false, "FAULT_FAILURE_RATE"},
		{"rate as a percentage", map[string]string{"FAULT_FAILURE_RATE": "20%"}, Faults{}, false, "FAULT_FAILURE_RATE"},
		{"negative latency", map[string]string{"FAULT_LATENCY": "-1s"}, Faults{}, false, "FAULT_LATENCY"},
		{"latency without a unit", map[string]string{"FAULT_LATENCY": "200"}, Faults{}, false, "FAULT_LATENCY"},
		{"unknown step", map[string]string{"FAULT_STEP": "charge"}, Faults{}, false, "FAULT_STEP"},
		{"step in upper case", map[string]string{"FAULT_STEP": "TRY"}, Faults{}, false, "FAULT_STEP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(func(k string) string { return tt.env[k] }, "try", "confirm", "cancel")
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.on, got.On())
		})
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name       string
		faults     Faults
		roll       float64
		waitErr    error
		want       map[string]int // step → status
		wantDetail string
		wantWaits  int
	}{
		{"off", Faults{}, 0, nil, map[string]int{"try": 200, "cancel": 200}, "", 0},
		{"every call fails", Faults{FailureRate: 1}, 0.999, nil, map[string]int{"try": 503, "cancel": 503}, "FAULT_FAILURE_RATE", 0},
		{"a draw under the rate fails", Faults{FailureRate: 0.5}, 0.499, nil, map[string]int{"try": 503, "cancel": 503}, "FAULT_FAILURE_RATE", 0},
		{"a draw at or over the rate passes", Faults{FailureRate: 0.5}, 0.5, nil, map[string]int{"try": 200, "cancel": 200}, "", 0},
		{"one step fails", Faults{Step: "try"}, 0, nil, map[string]int{"try": 503, "cancel": 200}, "FAULT_STEP", 0},
		{"latency before each", Faults{Latency: 300 * time.Millisecond}, 0, nil, map[string]int{"try": 200, "cancel": 200}, "", 2},
		{"the caller leaves during the latency", Faults{Latency: 300 * time.Millisecond}, 0, context.Canceled, map[string]int{"try": 503, "cancel": 503}, "injected latency", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var waits []time.Duration
			f := tt.faults
			f.Roll = func() float64 { return tt.roll }
			f.Wait = func(_ context.Context, d time.Duration) error {
				mu.Lock()
				defer mu.Unlock()
				waits = append(waits, d)
				return tt.waitErr
			}
			reached := 0
			ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reached++; w.WriteHeader(http.StatusOK) })
			for _, step := range []string{"try", "cancel"} {
				w := httptest.NewRecorder()
				f.Wrap(discard, step)(ok).ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/"+step, nil))
				assert.Equal(t, tt.want[step], w.Code, "%s: %s", step, w.Body.String())
				if w.Code != http.StatusOK {
					assert.Contains(t, w.Body.String(), tt.wantDetail)
				}
			}
			okCalls := 0
			for _, s := range tt.want {
				if s == http.StatusOK {
					okCalls++
				}
			}
			assert.Equal(t, okCalls, reached, "a failed call never reaches the step")
			assert.Len(t, waits, tt.wantWaits)
			for _, d := range waits {
				assert.Equal(t, tt.faults.Latency, d)
			}
		})
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, sleep(ctx, time.Hour), context.Canceled)
	assert.NoError(t, sleep(context.Background(), 0))
}
