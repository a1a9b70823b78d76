package cloudevent_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/cloudevent"
)

// userRegistered is the shape a subscriber reads out of the event data.
type userRegistered struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
}

// daprEvent is an event the way daprd delivers it to a subscription route:
// the envelope carries tracing and routing attributes the project ignores.
const daprEvent = `{
	"specversion": "1.0",
	"id": "5929aaac-a5e2-4ca1-859c-edfe73f11565",
	"source": "users",
	"type": "com.dapr.event.sent",
	"topic": "user.registered",
	"pubsubname": "pubsub",
	"time": "2025-01-02T03:04:05Z",
	"traceid": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	"tracestate": "",
	"datacontenttype": "application/json",
	"data": {
		"user_id": "0b6c3f4e-6a8e-4a4b-9a57-3f0c2a8b9d11",
		"email": "ada@example.com",
		"name": "Ada",
		"registered_at": "2025-01-02T03:04:05Z"
	}
}`

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		wantEvent cloudevent.Event
		wantData  userRegistered
	}{
		{
			name: "dapr event with extra attributes",
			body: daprEvent,
			wantEvent: cloudevent.Event{
				ID:              "5929aaac-a5e2-4ca1-859c-edfe73f11565",
				Source:          "users",
				Type:            "com.dapr.event.sent",
				Topic:           "user.registered",
				DataContentType: "application/json",
			},
			wantData: userRegistered{UserID: "0b6c3f4e-6a8e-4a4b-9a57-3f0c2a8b9d11", Name: "Ada"},
		},
		{
			name:      "data as a JSON string holding JSON",
			body:      `{"id":"e1","source":"users","type":"t","datacontenttype":"text/plain","data":"{\"user_id\":\"u1\",\"name\":\"Bob\"}"}`,
			wantEvent: cloudevent.Event{ID: "e1", Source: "users", Type: "t", DataContentType: "text/plain"},
			wantData:  userRegistered{UserID: "u1", Name: "Bob"},
		},
		{
			name:      "minimal envelope",
			body:      `{"id":"e2","data":{"user_id":"u2"}}`,
			wantEvent: cloudevent.Event{ID: "e2"},
			wantData:  userRegistered{UserID: "u2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/events/user-registered", strings.NewReader(tt.body))
			var data userRegistered

			ev, err := cloudevent.Decode(r, &data)

			require.NoError(t, err)
			assert.Equal(t, tt.wantData, data)
			assert.NotEmpty(t, ev.Data)
			ev.Data = nil
			assert.Equal(t, tt.wantEvent, ev)
		})
	}
}

func TestDecodeAcceptsBodyAtTheLimit(t *testing.T) {
	t.Parallel()
	prefix := `{"id":"e1","data":{"user_id":"u1","name":"`
	suffix := `"}}`
	body := prefix + strings.Repeat("a", cloudevent.MaxBytes-len(prefix)-len(suffix)) + suffix
	require.Len(t, body, cloudevent.MaxBytes)
	var data userRegistered

	_, err := cloudevent.Decode(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)), &data)

	require.NoError(t, err)
	assert.Equal(t, "u1", data.UserID)
}

func TestDecodePoison(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		wantID string
	}{
		{"empty body", ``, ""},
		{"not JSON", `user registered`, ""},
		{"truncated JSON", `{"id":"e1","data":{"user_id":`, ""},
		{"JSON array", `[{"id":"e1"}]`, ""},
		{"JSON null", `null`, ""},
		{"missing id", `{"source":"users","data":{"user_id":"u1"}}`, ""},
		{"empty id", `{"id":"","data":{"user_id":"u1"}}`, ""},
		{"id of the wrong type", `{"id":42,"data":{"user_id":"u1"}}`, ""},
		{"missing data", `{"id":"e1"}`, "e1"},
		{"data is an array", `{"id":"e1","data":[1,2]}`, "e1"},
		{"data field of the wrong type", `{"id":"e1","data":{"user_id":42}}`, "e1"},
		{"data is a string holding no JSON", `{"id":"e1","data":"hello"}`, "e1"},
		{"data is a string holding the wrong shape", `{"id":"e1","data":"[1]"}`, "e1"},
		{"over the size limit", `{"id":"e1","data":{"name":"` + strings.Repeat("a", cloudevent.MaxBytes) + `"}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/events/user-registered", strings.NewReader(tt.body))
			var data userRegistered

			ev, err := cloudevent.Decode(r, &data)

			require.Error(t, err)
			assert.ErrorIs(t, err, cloudevent.ErrPoison)
			assert.Equal(t, tt.wantID, ev.ID, "the id, when read, is kept for the log")
		})
	}
}

// errReader fails the way a connection dropped mid-body does.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

// TestDecodeReadFailureIsNotPoison pins down that a body that could not be
// read is not blamed on the event: redelivery may well succeed.
func TestDecodeReadFailureIsNotPoison(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodPost, "/events/user-registered", io.NopCloser(errReader{}))
	var data userRegistered

	_, err := cloudevent.Decode(r, &data)

	require.Error(t, err)
	assert.NotErrorIs(t, err, cloudevent.ErrPoison)
}

func TestRespond(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   cloudevent.Status
		wantBody string
	}{
		{"success", cloudevent.Success, `{"status":"SUCCESS"}`},
		{"retry", cloudevent.Retry, `{"status":"RETRY"}`},
		{"drop", cloudevent.Drop, `{"status":"DROP"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()

			cloudevent.Respond(w, tt.status)

			assert.Equal(t, http.StatusOK, w.Code, "dapr reads the body; any other status changes its meaning")
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.JSONEq(t, tt.wantBody, w.Body.String())
		})
	}
}
