package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/cloudevent"
	"github.com/daprshop/daprshop/internal/web"
)

// daprEventTemplate is user.registered the way daprd delivers it: the
// outbox's envelope with tracing and routing attributes around the data.
const daprEventTemplate = `{
	"specversion": "1.0",
	"id": %q,
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
		"user_id": %q,
		"email": "ada@example.com",
		"name": "Ada",
		"registered_at": "2025-01-02T03:04:05Z"
	}
}`

func newEventBody(eventID, userID string) io.Reader {
	return strings.NewReader(fmt.Sprintf(daprEventTemplate, eventID, userID))
}

func newEventRequest(body io.Reader) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/events/user-registered", body)
	r.Header.Set("Content-Type", "application/cloudevents+json")
	r.Header.Set(web.AppTokenHeader, testToken)
	return r
}

func TestUserRegisteredWelcomesTheUser(t *testing.T) {
	t.Parallel()
	store := newMemInboxes()
	h := newTestServer(store, ready)
	w := httptest.NewRecorder()

	h.ServeHTTP(w, newEventRequest(newEventBody("ev-1", adaID)))

	assert.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"status":"SUCCESS"}`, w.Body.String())
	assert.Equal(t, map[string]Inbox{
		adaID: {Items: []Notification{{ID: "ev-1", Kind: "welcome", Message: "Welcome to daprshop, Ada!", CreatedAt: wantCreatedAt}}},
	}, store.inboxes())
}

func TestUserRegisteredDataAsString(t *testing.T) {
	t.Parallel()
	store := newMemInboxes()
	h := newTestServer(store, ready)
	body := `{"id":"ev-1","source":"users","type":"com.dapr.event.sent","data":"{\"user_id\":\"` + adaID + `\",\"name\":\"Ada\"}"}`
	w := httptest.NewRecorder()

	h.ServeHTTP(w, newEventRequest(strings.NewReader(body)))

	assert.JSONEq(t, `{"status":"SUCCESS"}`, w.Body.String())
	require.Len(t, store.inboxes()[adaID].Items, 1)
	assert.Equal(t, "ev-1", store.inboxes()[adaID].Items[0].ID)
}

func TestUserRegisteredRedeliveryIsAppliedOnce(t *testing.T) {
	t.Parallel()
	store := newMemInboxes()
	h := newTestServer(store, ready)
	first := httptest.NewRecorder()
	h.ServeHTTP(first, newEventRequest(newEventBody("ev-1", adaID)))
	require.JSONEq(t, `{"status":"SUCCESS"}`, first.Body.String())
	second := httptest.NewRecorder()

	h.ServeHTTP(second, newEventRequest(newEventBody("ev-1", adaID)))

	assert.Equal(t, http.StatusOK, second.Code)
	assert.JSONEq(t, `{"status":"SUCCESS"}`, second.Body.String(), "a duplicate is acknowledged, or Dapr would redeliver it forever")
	assert.Len(t, store.inboxes()[adaID].Items, 1)
	assert.Equal(t, int64(2), store.addCalls.Load())
}

func TestUserRegisteredDistinctEventsStackNewestFirst(t *testing.T) {
	t.Parallel()
	store := newMemInboxes()
	h := newTestServer(store, ready)
	for _, id := range []string{"ev-1", "ev-2"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, newEventRequest(newEventBody(id, adaID)))
		require.JSONEq(t, `{"status":"SUCCESS"}`, w.Body.String())
	}
	w := httptest.NewRecorder()

	h.ServeHTTP(w, newListRequest(adaID))

	require.Equal(t, http.StatusOK, w.Code)
	var got listResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	var ids []string
	for _, n := range got.Items {
		ids = append(ids, n.ID)
	}
	assert.Equal(t, []string{"ev-2", "ev-1"}, ids)
}

func TestUserRegisteredDropsPoison(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
	}{
		{"user_id not a UUID", fmt.Sprintf(daprEventTemplate, "ev-1", "ada")},
		{"user_id empty", fmt.Sprintf(daprEventTemplate, "ev-1", "")},
		{"user_id missing", `{"id":"ev-1","data":{"name":"Ada"}}`},
		{"data null", `{"id":"ev-1","data":null}`},
		{"data of the wrong shape", `{"id":"ev-1","data":{"user_id":42}}`},
		{"data a string holding no JSON", `{"id":"ev-1","data":"Ada registered"}`},
		{"missing data", `{"id":"ev-1"}`},
		{"missing id", `{"source":"users","data":{"user_id":"` + adaID + `"}}`},
		{"malformed envelope", `{"id":"ev-1","data":{"user_id":"` + adaID + `"}`},
		{"not JSON", `user registered`},
		{"empty body", ``},
		{"over the size limit", `{"id":"ev-1","data":{"user_id":"` + adaID + `","name":"` + strings.Repeat("a", cloudevent.MaxBytes) + `"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newMemInboxes()
			h := newTestServer(store, ready)
			w := httptest.NewRecorder()

			h.ServeHTTP(w, newEventRequest(strings.NewReader(tt.body)))

			assert.Equal(t, http.StatusOK, w.Code, "a non-2xx status would change what Dapr does")
			assert.JSONEq(t, `{"status":"DROP"}`, w.Body.String())
			assert.Zero(t, store.addCalls.Load())
			assert.Empty(t, store.inboxes())
		})
	}
}

func TestUserRegisteredStoreFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantStatus cloudevent.Status
	}{
		{"store unavailable", apperr.Wrap(apperr.Unavailable, errors.New("connection refused"), "state store unavailable"), cloudevent.Retry},
		{"inbox kept changing", apperr.Wrap(apperr.Conflict, errors.New("etag mismatch"), "inbox of %s kept changing", adaID), cloudevent.Retry},
		{"unexpected failure", errors.New("decode inbox: invalid character"), cloudevent.Retry},
		{"store says poison", fmt.Errorf("%w: inbox refuses it", cloudevent.ErrPoison), cloudevent.Drop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newMemInboxes()
			store.mem.Fail(tt.err)
			h := newTestServer(store, ready)
			w := httptest.NewRecorder()

			h.ServeHTTP(w, newEventRequest(newEventBody("ev-1", adaID)))

			assert.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, `{"status":"`+string(tt.wantStatus)+`"}`, w.Body.String())
			assert.Equal(t, int64(1), store.addCalls.Load())
			assert.Empty(t, store.inboxes())
		})
	}
}

func TestUserRegisteredRetryThenSuccess(t *testing.T) {
	t.Parallel()
	store := newMemInboxes()
	store.mem.Fail(apperr.E(apperr.Unavailable, "state store unavailable"))
	h := newTestServer(store, ready)
	first := httptest.NewRecorder()
	h.ServeHTTP(first, newEventRequest(newEventBody("ev-1", adaID)))
	require.JSONEq(t, `{"status":"RETRY"}`, first.Body.String())
	store.mem.Fail(nil)
	second := httptest.NewRecorder()

	h.ServeHTTP(second, newEventRequest(newEventBody("ev-1", adaID)))

	assert.JSONEq(t, `{"status":"SUCCESS"}`, second.Body.String())
	assert.Len(t, store.inboxes()[adaID].Items, 1)
}

// A body that cannot be read is not poison: the event may be fine, so Dapr
// must redeliver it rather than dead-letter it.
func TestUserRegisteredRetriesAnUnreadableBody(t *testing.T) {
	t.Parallel()
	store := newMemInboxes()
	h := newTestServer(store, ready)
	body := io.MultiReader(strings.NewReader(`{"id":"ev-1","data":{`), iotest.ErrReader(errors.New("connection reset by peer")))
	w := httptest.NewRecorder()

	h.ServeHTTP(w, newEventRequest(body))

	assert.JSONEq(t, `{"status":"RETRY"}`, w.Body.String())
	assert.Empty(t, store.inboxes())
}

func TestUserRegisteredDropsNonCanonicalUserID(t *testing.T) {
	t.Parallel()
	store := newMemInboxes()
	h := newTestServer(store, ready)
	w := httptest.NewRecorder()

	h.ServeHTTP(w, newEventRequest(newEventBody("ev-1", strings.ToUpper(adaID))))

	assert.JSONEq(t, `{"status":"DROP"}`, w.Body.String())
	assert.Empty(t, store.inboxes())
}

func TestWelcomeBoundsTheQuotedName(t *testing.T) {
	t.Parallel()
	n := welcome("ev-1", userRegistered{UserID: adaID, Name: strings.Repeat("é", 5000)}, wantCreatedAt)
	assert.Equal(t, "Welcome to daprshop, "+strings.Repeat("é", maxNameRunes)+"!", n.Message)
}

func orderEventRequest(path, eventID, data string) *http.Request {
	body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"orders","type":"com.daprshop.order","datacontenttype":"application/json","data":%s}`, eventID, data)
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/cloudevents+json")
	r.Header.Set(web.AppTokenHeader, testToken)
	return r
}

func TestOrderFinishedTellsTheUserOnce(t *testing.T) {
	t.Parallel()
	const orderID = "5f1e2d3c-4b5a-4697-8877-665544332211"
	tests := []struct {
		name, path, data string
		wantKind         string
		wantMessage      string
	}{
		{"completed", "/events/order-completed", `{"order_id":"` + orderID + `","user_id":"` + adaID + `","status":"completed","total_cents":10805}`,
			"order_completed", "Your order " + orderID + " is confirmed: 108.05 charged."},
		{"cancelled", "/events/order-cancelled", `{"order_id":"` + orderID + `","user_id":"` + adaID + `","status":"cancelled","total_cents":10805,"reason":"not enough stock of burr-grinder"}`,
			"order_cancelled", "Your order " + orderID + " was cancelled: not enough stock of burr-grinder. You are not charged for it."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newMemInboxes()
			h := newTestServer(store, ready)
			for range 2 { // a redelivery
				w := httptest.NewRecorder()
				h.ServeHTTP(w, orderEventRequest(tt.path, "ev-"+tt.name, tt.data))
				assert.JSONEq(t, `{"status":"SUCCESS"}`, w.Body.String())
			}
			in, err := store.Inbox(t.Context(), adaID)
			require.NoError(t, err)
			require.Len(t, in.Items, 1)
			assert.Equal(t, tt.wantKind, in.Items[0].Kind)
			assert.Equal(t, tt.wantMessage, in.Items[0].Message)
		})
	}
}

func TestOrderFinishedDropsPoison(t *testing.T) {
	t.Parallel()
	for _, data := range []string{
		`{"order_id":"x","user_id":"` + adaID + `","status":"completed"}`,
		`{"order_id":"5f1e2d3c-4b5a-4697-8877-665544332211","user_id":"ada","status":"completed"}`,
		`{"order_id":"5f1e2d3c-4b5a-4697-8877-665544332211","user_id":"` + adaID + `","status":"pending"}`,
	} {
		store := newMemInboxes()
		w := httptest.NewRecorder()
		newTestServer(store, ready).ServeHTTP(w, orderEventRequest("/events/order-completed", "ev-1", data))
		assert.JSONEq(t, `{"status":"DROP"}`, w.Body.String(), data)
		in, err := store.Inbox(t.Context(), adaID)
		require.NoError(t, err)
		assert.Empty(t, in.Items)
	}
}
