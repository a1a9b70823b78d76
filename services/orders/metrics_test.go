package main

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSagaTrackerReportsInFlightAndOldest(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	tests := []struct {
		name                       string
		do                         func(*sagaTracker)
		running, compensating, age string
	}{
		{"none", func(*sagaTracker) {}, "0", "0", "0"},
		{"two running", func(tr *sagaTracker) {
			tr.running("a", t0.Add(-30*time.Second), false)
			tr.running("b", t0.Add(-90*time.Second), false)
		}, "2", "0", "90"},
		{"compensating stays compensating", func(tr *sagaTracker) {
			tr.running("a", t0.Add(-10*time.Second), true)
			tr.running("a", t0.Add(-5*time.Second), false) // a later step of the same saga
		}, "0", "1", "10"},
		{"finished is forgotten", func(tr *sagaTracker) {
			tr.running("a", t0.Add(-10*time.Second), false)
			tr.running("b", t0.Add(-20*time.Second), true)
			tr.finished("b")
		}, "1", "0", "10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := newSagaTracker(func() time.Time { return t0 })
			tt.do(tr)
			want := `
# HELP daprshop_saga_oldest_in_flight_seconds Age of the oldest checkout saga under way that this orders process knows of (0 when none).
# TYPE daprshop_saga_oldest_in_flight_seconds gauge
daprshop_saga_oldest_in_flight_seconds ` + tt.age + `
# HELP daprshop_sagas_in_flight Checkout sagas under way that this orders process knows of, by state: running or compensating.
# TYPE daprshop_sagas_in_flight gauge
daprshop_sagas_in_flight{state="compensating"} ` + tt.compensating + `
daprshop_sagas_in_flight{state="running"} ` + tt.running + `
`
			assert.NoError(t, testutil.CollectAndCompare(tr, strings.NewReader(want)))
		})
	}
}

// Not parallel: it reads process-wide counters that the parallel saga
// tests also move.
func TestSagaMetricsCountEachSagaOnce(t *testing.T) {
	s, _, _, _, o := newSaga(t)
	compensated := testutil.ToFloat64(sagasFinished.WithLabelValues(outcomeCompensated))
	releaseOK := testutil.ToFloat64(sagaSteps.WithLabelValues("release", "ok"))

	_, err := s.release(input(t, o))
	require.NoError(t, err)
	assert.Equal(t, releaseOK+1, testutil.ToFloat64(sagaSteps.WithLabelValues("release", "ok")))
	s.tracker.mu.Lock()
	assert.True(t, s.tracker.sagas[o.ID].compensating, "a saga releasing stock is compensating")
	s.tracker.mu.Unlock()

	in := finishInput{OrderID: o.ID, Status: StatusCancelled, Reason: "cancelled at your request"}
	for range 2 { // the activity run twice
		_, err := s.finish(input(t, in))
		require.NoError(t, err)
	}
	assert.Equal(t, compensated+1, testutil.ToFloat64(sagasFinished.WithLabelValues(outcomeCompensated)), "one saga ended once, however often its last activity ran")
	s.tracker.mu.Lock()
	assert.NotContains(t, s.tracker.sagas, o.ID, "a finished saga is no longer in flight")
	s.tracker.mu.Unlock()
}
