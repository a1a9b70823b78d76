package web_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/web"
)

// fuzzBody is a small request type with nesting, a slice, a number and a
// rule of its own, so that every branch of Decode can be reached.
type fuzzBody struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
	Inner struct {
		OK bool `json:"ok"`
	} `json:"inner"`
}

func (b *fuzzBody) Validate() error {
	if b.Count < 0 {
		return apperr.InvalidFields(apperr.FieldError{Field: "count", Detail: "must not be negative"})
	}
	return nil
}

// FuzzDecode checks that no request body, however hostile, makes Decode
// panic or report a server fault: every refusal is the client's (400, 413
// or 415).
func FuzzDecode(f *testing.F) {
	f.Add("application/json", []byte(`{"name":"Ada","count":1,"tags":["a"],"inner":{"ok":true}}`), false)
	f.Add("application/json", []byte(`{"count":-1}`), false)
	f.Add("application/json", []byte(`{"count":"1"}`), true)
	f.Add("application/json", []byte(`{"count":1e400}`), false)
	f.Add("application/json", []byte(`{"unknown":1}`), false)
	f.Add("application/json", []byte(`{"inner":{"ok":1}}`), false)
	f.Add("application/json", []byte(`{} {}`), false)
	f.Add("application/json", []byte(`{"name":"Ad`), true)
	f.Add("application/json", []byte(``), false)
	f.Add("application/json", []byte(`null`), false)
	f.Add("application/json", []byte(`[]`), false)
	f.Add("application/json", []byte("\xff\xfe{}"), false)
	f.Add("application/problem+json; charset=utf-8", []byte(`{"name":"\u00e9"}`), false)
	f.Add("text/plain", []byte(`{}`), false)
	f.Add("", []byte(`{"tags":null}`), true)
	f.Add("application/json; =", []byte(`{}`), false)

	f.Fuzz(func(t *testing.T, contentType string, body []byte, chunked bool) {
		r := httptest.NewRequest(http.MethodPost, "/fuzz", bytes.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		if chunked {
			r.ContentLength = -1
		}
		var v fuzzBody

		err := web.Decode(httptest.NewRecorder(), r, &v)

		if err == nil {
			if verr := v.Validate(); verr != nil {
				t.Fatalf("Decode accepted a body that fails validation: %v", verr)
			}
			return
		}
		switch kind := apperr.KindOf(err); kind {
		case apperr.Invalid, apperr.TooLarge, apperr.UnsupportedMedia:
		default:
			t.Fatalf("Decode returned kind %d for a client's body (%v)", kind, err)
		}
	})
}
