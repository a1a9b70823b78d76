package cloudevent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type greeting struct {
	Name string `json:"name"`
}

func (g greeting) Validate() error {
	if g.Name == "" {
		return errors.New("name is required")
	}
	return nil
}

func event(data string) string {
	return `{"id":"ev-1","source":"test","type":"t","topic":"greetings","data":` + data + `}`
}

func TestHandlerAnswersAndCountsEachOutcome(t *testing.T) {
	t.Parallel()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name        string
		body        string
		applied     bool
		err         error
		wantStatus  Status
		wantOutcome string
	}{
		{"applied", event(`{"name":"Ada"}`), true, nil, Success, outcomeSuccess},
		{"applied before", event(`{"name":"Ada"}`), false, nil, Success, outcomeDuplicate},
		{"transient failure", event(`{"name":"Ada"}`), false, errors.New("store down"), Retry, outcomeRetry},
		{"poison from apply", event(`{"name":"Ada"}`), false, ErrPoison, Drop, outcomeDrop},
		{"invalid payload", event(`{"name":""}`), false, nil, Drop, outcomeDrop},
		{"not an envelope", `[1,2]`, false, nil, Drop, outcomeDrop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			topic := "greetings." + strings.ReplaceAll(tt.name, " ", "-") // a series per case: parallel cases do not share counts
			h := Handler(discard, topic, func(context.Context, Event, greeting) (bool, error) { return tt.applied, tt.err })
			for _, o := range []string{outcomeSuccess, outcomeDuplicate, outcomeRetry, outcomeDrop} {
				assert.Zero(t, testutil.ToFloat64(handled.WithLabelValues(topic, o)), "every outcome's series starts at 0")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/events/x", strings.NewReader(tt.body)))
			assert.Equal(t, http.StatusOK, w.Code, "Dapr reads the body; a 404 would drop the event silently")
			assert.JSONEq(t, `{"status":"`+string(tt.wantStatus)+`"}`, w.Body.String())
			for _, o := range []string{outcomeSuccess, outcomeDuplicate, outcomeRetry, outcomeDrop} {
				want := 0.0
				if o == tt.wantOutcome {
					want = 1
				}
				assert.Equal(t, want, testutil.ToFloat64(handled.WithLabelValues(topic, o)), "outcome %s", o)
			}
		})
	}
}

func TestDeadLetterHandlerLogsCountsAndAcknowledges(t *testing.T) {
	t.Parallel()
	var log strings.Builder
	logger := slog.New(slog.NewJSONHandler(&log, nil))
	const dlq = "greetings.test.deadletter"
	h := DeadLetterHandler(logger, dlq)
	require.Zero(t, testutil.ToFloat64(deadLetters.WithLabelValues(dlq)))
	for _, body := range []string{event(`{"name":"Ada"}`), "not json at all"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/events/dead-letters/"+dlq, strings.NewReader(body)))
		assert.JSONEq(t, `{"status":"SUCCESS"}`, w.Body.String(), "a dead letter is never redelivered")
	}
	assert.Equal(t, 2.0, testutil.ToFloat64(deadLetters.WithLabelValues(dlq)))
	assert.Contains(t, log.String(), `"event":{"id":"ev-1"`, "the event is logged whole, as JSON")
	assert.Contains(t, log.String(), `"event":"not json at all"`, "a body that is not JSON is logged as a string")
}
