package cloudevent_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/daprshop/daprshop/internal/cloudevent"
)

// FuzzDecode checks that no delivered body makes Decode panic, and that
// every body it refuses is marked poison, so that the subscriber drops it
// instead of having Dapr redeliver it forever.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(daprEvent))
	f.Add([]byte(`{"id":"e1","data":"{\"user_id\":\"u1\"}"}`))
	f.Add([]byte(`{"id":"e1","data":"\"{\\\"user_id\\\":\\\"u1\\\"}\""}`))
	f.Add([]byte(`{"id":"e1","data":null}`))
	f.Add([]byte(`{"id":"e1","data":"null"}`))
	f.Add([]byte(`{"id":"e1","data":""}`))
	f.Add([]byte(`{"id":"e1","data":[1]}`))
	f.Add([]byte(`{"id":"e1"}`))
	f.Add([]byte(`{"id":1}`))
	f.Add([]byte(`{"data":{}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Add([]byte("\xff"))

	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/events/user-registered", bytes.NewReader(body))
		var data userRegistered

		ev, err := cloudevent.Decode(r, &data)

		if err != nil {
			if !errors.Is(err, cloudevent.ErrPoison) {
				t.Fatalf("Decode refused a readable body without marking it poison: %v", err)
			}
			return
		}
		if ev.ID == "" {
			t.Fatal("Decode accepted an event without an id")
		}
	})
}
