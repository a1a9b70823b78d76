package cloudevent

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What a publisher writes, a consumer reads back: the id, the source, the
// type and the data, whole.
func TestEnvelopeIsWhatDecodeReads(t *testing.T) {
	t.Parallel()
	type order struct {
		OrderID    string `json:"order_id"`
		TotalCents int64  `json:"total_cents"`
	}
	b, err := Envelope("order.completed", "ev-1", "orders", order{OrderID: "o-1", TotalCents: 1290})
	require.NoError(t, err)

	var attrs map[string]any
	require.NoError(t, json.Unmarshal(b, &attrs))
	assert.Equal(t, "1.0", attrs["specversion"])
	assert.Equal(t, "application/json", attrs["datacontenttype"])

	var got order
	ev, err := Decode(httptest.NewRequest("POST", "/events", bytes.NewReader(b)), &got)
	require.NoError(t, err)
	assert.Equal(t, order{OrderID: "o-1", TotalCents: 1290}, got)
	assert.Equal(t, Event{ID: "ev-1", Source: "orders", Type: "com.daprshop.order.completed", DataContentType: "application/json", Data: ev.Data}, ev)

	_, err = Envelope("order.completed", "ev-2", "orders", func() {})
	assert.Error(t, err, "data that is not JSON")
}
