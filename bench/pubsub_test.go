package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/cloudevent"
)

// The subscriber answers daprd as daprd expects: its two subscriptions,
// a SUCCESS per event, and a status per entry of a bulk delivery.
func TestSubscriberAnswersDaprd(t *testing.T) {
	col := &collector{}
	col.reset(7)
	port, stop, err := serveSubscriber(col)
	require.NoError(t, err)
	t.Cleanup(stop)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	resp, err := http.Get(base + "/dapr/subscribe")
	require.NoError(t, err)
	var subs []map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&subs))
	resp.Body.Close()
	require.Len(t, subs, 3)
	assert.Equal(t, []any{"pubsub", daprTopic}, []any{subs[0]["pubsubname"], subs[0]["topic"]})
	assert.Equal(t, []any{parallelPubSub, parallelTopic}, []any{subs[1]["pubsubname"], subs[1]["topic"]})
	assert.Equal(t, []any{parallelPubSub, bulkTopic}, []any{subs[2]["pubsubname"], subs[2]["topic"]})
	assert.Equal(t, map[string]any{"enabled": true, "maxMessagesCount": float64(bulkSize), "maxAwaitDurationMs": float64(bulkAwait.Milliseconds())}, subs[2]["bulkSubscribe"])

	post := func(path string, body []byte) map[string]any {
		resp, err := http.Post(base+path, cloudevent.ContentType, bytes.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out
	}
	ev, err := cloudevent.Envelope(daprTopic, "7-1", "benchpub", message{Run: 7, Seq: 1, Sent: 1})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"status": "SUCCESS"}, post("/events", ev))
	assert.Equal(t, map[string]any{"status": "DROP"}, post("/events", []byte(`{"id":"x","data":"not a message"}`)))

	entry := func(id string, seq int64) string {
		ev, err := cloudevent.Envelope(bulkTopic, id, "benchpub", message{Run: 7, Seq: seq, Sent: 1})
		require.NoError(t, err)
		return fmt.Sprintf(`{"entryId":%q,"event":%s,"contentType":%q,"metadata":{}}`, id, ev, cloudevent.ContentType)
	}
	got := post("/events-bulk", []byte(`{"id":"b","topic":"`+bulkTopic+`","entries":[`+entry("e1", 2)+","+entry("e2", 3)+`]}`))
	assert.Equal(t, map[string]any{"statuses": []any{
		map[string]any{"entryId": "e1", "status": "SUCCESS"}, map[string]any{"entryId": "e2", "status": "SUCCESS"},
	}}, got)
	assert.EqualValues(t, 3, col.got.Load(), "one event and a bulk of two delivered")
}

// The benchmark's topics are granted in the local profile's own component
// exactly as the shop's are, in one entry per app, and its parallel variant
// differs from it in its name and concurrencyMode only.
func TestBenchComponents(t *testing.T) {
	local, err := os.ReadFile(filepath.Join("..", "components", "local", "pubsub.yaml"))
	require.NoError(t, err)
	got, err := grantTopics(string(local), "benchpub", "benchsub", "a.b", "c.d")
	require.NoError(t, err)
	for _, want := range []string{",a.b,c.d\"", ";benchpub=a.b,c.d\"", ";benchsub=a.b,c.d\""} {
		assert.Contains(t, got, want)
	}
	assert.Equal(t, 2, strings.Count(got, ",a.b,c.d\""), "allowedTopics and protectedTopics")

	_, err = grantTopics("metadata: {}\n", "benchpub", "benchsub", "a.b")
	assert.ErrorContains(t, err, "lacks 4 of the topic scoping fields")

	par, err := parallelVariant(got)
	require.NoError(t, err)
	assert.Contains(t, par, "\n  name: "+parallelPubSub+"\n")
	assert.Contains(t, par, "\n  metadata:\n    - name: concurrencyMode\n      value: parallel\n")
	assert.Equal(t, strings.Count(got, "\n"), strings.Count(par, "\n")-2, "only the two lines added")
	_, err = parallelVariant(par)
	assert.Error(t, err, "a component that sets concurrencyMode already")
}
