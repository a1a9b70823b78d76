package web_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/web"
)

// order is a request body without its own validation.
type order struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	Item  struct {
		SKU string `json:"sku"`
	} `json:"item"`
}

// signup is a request body that validates itself.
type signup struct {
	Email string `json:"email"`
}

var errNoEmail = apperr.InvalidFields(apperr.FieldError{Field: "email", Detail: "required"})

func (s *signup) Validate() error {
	if s.Email == "" {
		return errNoEmail
	}
	return nil
}

func TestDecode(t *testing.T) {
	t.Parallel()
	// A syntactically valid body one byte over the limit.
	bigBody := `{"name":"` + strings.Repeat("a", web.MaxBodyBytes) + `"}`
	tests := []struct {
		name        string
		contentType string
		body        string
		// contentLength overrides the request's Content-Length when not 0;
		// -1 is a chunked body of unknown length.
		contentLength int64
		into          func() any
		wantKind      apperr.Kind
		wantErr       bool
		wantFields    []string
		wantMsg       string
		check         func(t *testing.T, v any)
	}{
		{
			name:        "valid body",
			contentType: "application/json",
			body:        `{"name":"Ada","count":3,"item":{"sku":"X-1"}}`,
			check: func(t *testing.T, v any) {
				o := v.(*order)
				assert.Equal(t, "Ada", o.Name)
				assert.Equal(t, 3, o.Count)
				assert.Equal(t, "X-1", o.Item.SKU)
			},
		},
		{
			name: "no content type is read as JSON",
			body: `{"name":"Ada"}`,
			check: func(t *testing.T, v any) {
				assert.Equal(t, "Ada", v.(*order).Name)
			},
		},
		{
			name:        "content type with charset",
			contentType: "application/json; charset=utf-8",
			body:        `{"name":"Ada"}`,
		},
		{
			name:        "problem+json accepted",
			contentType: "application/problem+json",
			body:        `{"name":"Ada"}`,
		},
		{
			name:        "merge-patch+json accepted",
			contentType: "application/merge-patch+json",
			body:        `{"count":7}`,
			check: func(t *testing.T, v any) {
				assert.Equal(t, 7, v.(*order).Count)
			},
		},
		{
			name:        "trailing whitespace is not a second value",
			contentType: "application/json",
			body:        "{\"name\":\"Ada\"}\n\t ",
		},
		{
			name:        "malformed JSON names the byte offset",
			contentType: "application/json",
			body:        `{"name": x}`,
			wantErr:     true,
			wantKind:    apperr.Invalid,
			wantMsg:     "malformed JSON at byte offset 10",
		},
		{
			name:        "unknown field is named",
			contentType: "application/json",
			body:        `{"name":"Ada","admin":true}`,
			wantErr:     true,
			wantKind:    apperr.Invalid,
			wantFields:  []string{"admin"},
		},
		{
			name:        "unknown nested field is named",
			contentType: "application/json",
			body:        `{"item":{"sku":"X","price":1}}`,
			wantErr:     true,
			wantKind:    apperr.Invalid,
			wantFields:  []string{"price"},
		},
		{
			name:        "wrong type names the field",
			contentType: "application/json",
			body:        `{"count":"three"}`,
			wantErr:     true,
			wantKind:    apperr.Invalid,
			wantFields:  []string{"count"},
			wantMsg:     `field "count": must be of type number, not string`,
		},
		{
			name:        "wrong type in a nested field names its path",
			contentType: "application/json",
			body:        `{"item":{"sku":5}}`,
			wantErr:     true,
			wantKind:    apperr.Invalid,
			wantFields:  []string{"item.sku"},
		},
		{
			name:        "array instead of object",
			contentType: "application/json",
			body:        `[1,2]`,
			wantErr:     true,
			wantKind:    apperr.Invalid,
			wantMsg:     "the body must be a JSON object, not array",
		},
		{
			name:        "empty body",
			contentType: "application/json",
			body:        ``,
			wantErr:     true,
			wantKind:    apperr.Invalid,
			wantMsg:     "the body is empty; a JSON object is required",
		},
		{
			name:        "truncated JSON",
			contentType: "application/json",
			body:        `{"name":"Ad`,
			wantErr:     true,
			wantKind:    apperr.Invalid,
			wantMsg:     "the body is truncated JSON",
		},
		{
			name:        "two JSON values",
			contentType: "application/json",
			body:        `{"name":"Ada"}{"name":"Bob"}`,
			wantErr:     true,
			wantKind:    apperr.Invalid,
			wantMsg:     "the body must hold a single JSON value",
		},
		{
			name:        "garbage after the value",
			contentType: "application/json",
			body:        `{"name":"Ada"} trailing`,
			wantErr:     true,
			wantKind:    apperr.Invalid,
			wantMsg:     "the body must hold a single JSON value",
		},
		{
			name:        "over the limit with content length",
			contentType: "application/json",
			body:        bigBody,
			wantErr:     true,
			wantKind:    apperr.TooLarge,
		},
		{
			name:          "over the limit with unknown length",
			contentType:   "application/json",
			body:          bigBody,
			contentLength: -1,
			wantErr:       true,
			wantKind:      apperr.TooLarge,
		},
		{
			name:          "over the limit with a lying content length",
			contentType:   "application/json",
			body:          bigBody,
			contentLength: 16,
			wantErr:       true,
			wantKind:      apperr.TooLarge,
		},
		{
			name:          "trailing data past the limit",
			contentType:   "application/json",
			body:          `{"name":"Ada"}` + strings.Repeat(" ", web.MaxBodyBytes),
			contentLength: -1,
			wantErr:       true,
			wantKind:      apperr.TooLarge,
		},
		{
			name:        "text/plain is unsupported",
			contentType: "text/plain",
			body:        `{"name":"Ada"}`,
			wantErr:     true,
			wantKind:    apperr.UnsupportedMedia,
		},
		{
			name:        "form is unsupported",
			contentType: "application/x-www-form-urlencoded",
			body:        `name=Ada`,
			wantErr:     true,
			wantKind:    apperr.UnsupportedMedia,
		},
		{
			name:        "unparsable content type is unsupported",
			contentType: "application/json; =",
			body:        `{"name":"Ada"}`,
			wantErr:     true,
			wantKind:    apperr.UnsupportedMedia,
		},
		{
			name:        "validator error is returned",
			contentType: "application/json",
			body:        `{"email":""}`,
			into:        func() any { return &signup{} },
			wantErr:     true,
			wantKind:    apperr.Invalid,
			wantFields:  []string{"email"},
		},
		{
			name:        "validator passes",
			contentType: "application/json",
			body:        `{"email":"ada@example.com"}`,
			into:        func() any { return &signup{} },
			check: func(t *testing.T, v any) {
				assert.Equal(t, "ada@example.com", v.(*signup).Email)
			},
		},
		{
			name:        "validator does not run on a decode error",
			contentType: "application/json",
			body:        `{"email":""} {}`,
			into:        func() any { return &signup{} },
			wantErr:     true,
			wantKind:    apperr.Invalid,
			wantMsg:     "the body must hold a single JSON value",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			if tt.contentLength != 0 {
				r.ContentLength = tt.contentLength
			}
			into := tt.into
			if into == nil {
				into = func() any { return &order{} }
			}
			v := into()

			err := web.Decode(httptest.NewRecorder(), r, v)

			if !tt.wantErr {
				require.NoError(t, err)
				if tt.check != nil {
					tt.check(t, v)
				}
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.wantKind, apperr.KindOf(err))
			var ae *apperr.Error
			require.ErrorAs(t, err, &ae)
			if tt.wantMsg != "" {
				assert.Equal(t, tt.wantMsg, ae.Msg)
			}
			var fields []string
			for _, f := range ae.Fields {
				fields = append(fields, f.Field)
			}
			assert.Equal(t, tt.wantFields, fields)
		})
	}
}

// TestDecodeReturnsValidatorErrorAsIs checks that Decode does not rewrap
// what Validate returns, so that a request type keeps control of its kind.
func TestDecodeReturnsValidatorErrorAsIs(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodPost, "/signup", strings.NewReader(`{}`))
	r.Header.Set("Content-Type", "application/json")

	err := web.Decode(httptest.NewRecorder(), r, &signup{})

	assert.Same(t, errNoEmail, err)
}

// errReader fails the way a connection dropped mid-body does.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

func TestDecodeBodyReadFailureIsNotInternal(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodPost, "/orders", io.NopCloser(errReader{}))
	r.Header.Set("Content-Type", "application/json")

	err := web.Decode(httptest.NewRecorder(), r, &order{})

	require.Error(t, err)
	assert.Equal(t, apperr.Invalid, apperr.KindOf(err))
}

func TestRespond(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		v        any
		wantBody string
	}{
		{"object", http.StatusCreated, map[string]string{"id": "u1"}, `{"id":"u1"}`},
		{"empty slice stays an array", http.StatusOK, []string{}, `[]`},
		{"nil writes no body", http.StatusAccepted, nil, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()

			web.Respond(w, tt.status, tt.v)

			assert.Equal(t, tt.status, w.Code)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			if tt.wantBody == "" {
				assert.Empty(t, w.Body.String())
				return
			}
			assert.JSONEq(t, tt.wantBody, w.Body.String())
		})
	}
}

// Error messages name the field and the expected type, never the client's
// own input, which may be huge or hostile.
func TestDecodeDoesNotEchoInput(t *testing.T) {
	t.Parallel()
	longKey := strings.Repeat("k", 10_000)
	tests := []struct {
		name      string
		body      string
		notInMsg  string
		wantField string
	}{
		{"overflowing number", `{"count":` + strings.Repeat("9", 300) + `}`, "999", "count"},
		{"huge unknown key", `{"` + longKey + `":1}`, longKey[:100], ""},
		{"short unknown key is named", `{"admin":true}`, "", "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			var o order
			err := web.Decode(httptest.NewRecorder(), r, &o)
			require.Error(t, err)
			var ae *apperr.Error
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, apperr.Invalid, ae.Kind)
			if tt.notInMsg != "" {
				assert.NotContains(t, ae.Msg, tt.notInMsg)
				for _, f := range ae.Fields {
					assert.NotContains(t, f.Field+f.Detail, tt.notInMsg)
				}
			}
			if tt.wantField != "" {
				require.Len(t, ae.Fields, 1)
				assert.Equal(t, tt.wantField, ae.Fields[0].Field)
			}
		})
	}
}

// A key repeated in one object, in any letter case, is refused: encoding/json
// would silently keep the last one. Deep nesting is refused too.
func TestDecodeRefusesRepeatedKeysAndDeepNesting(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"item":`, 40) + `{}` + strings.Repeat(`}`, 40)
	tests := []struct {
		name      string
		body      string
		wantErr   bool
		wantField string
		wantMsg   string
	}{
		{"same key twice", `{"name":"Ada","name":"Eve"}`, true, "name", ""},
		{"case variant", `{"name":"Ada","NAME":"Eve"}`, true, "NAME", ""},
		{"repeated inside a nested object", `{"item":{"sku":"A","Sku":"B"}}`, true, "Sku", ""},
		{"same key in sibling objects is fine", `{"item":{"sku":"A"},"name":"Ada"}`, false, "", ""},
		{"same key in objects of an array is fine", `{"list":[{"sku":"A"},{"sku":"B"}]}`, false, "", ""},
		{"key equal to a value is fine", `{"name":"name"}`, false, "", ""},
		{"nesting too deep", deep, true, "", "deeper than 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			var v map[string]any // any shape: the key check does not depend on the target
			err := web.Decode(httptest.NewRecorder(), r, &v)
			if !tt.wantErr {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			var ae *apperr.Error
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, apperr.Invalid, ae.Kind)
			if tt.wantField != "" {
				require.Len(t, ae.Fields, 1)
				assert.Equal(t, tt.wantField, ae.Fields[0].Field)
			}
			assert.Contains(t, ae.Msg, tt.wantMsg)
		})
	}
}

// A field is spelled exactly as documented: encoding/json would fill
// "name" from "NAME", so a case variant alone is an unknown field, at any
// depth. A map's keys are data and are not checked.
func TestDecodeFieldNamesAreCaseSensitive(t *testing.T) {
	t.Parallel()
	type line struct {
		SKU string `json:"sku"`
	}
	type cart struct {
		Name  string    `json:"name"`
		Lines []line    `json:"lines"`
		At    time.Time `json:"at"`
		Embedded
	}
	tests := []struct {
		name      string
		body      string
		wantField string // "": accepted
	}{
		{"exact names", `{"name":"Ada","lines":[{"sku":"A"}],"at":"2025-01-02T03:04:05Z","note":"x"}`, ""},
		{"top-level case variant", `{"Name":"Ada"}`, "Name"},
		{"upper-case variant", `{"NAME":"Ada"}`, "NAME"},
		{"variant inside an array's object", `{"lines":[{"sku":"A"},{"SKU":"B"}]}`, "SKU"},
		{"variant of an embedded struct's field", `{"Note":"x"}`, "Note"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			var v cart
			err := web.Decode(httptest.NewRecorder(), r, &v)
			if tt.wantField == "" {
				require.NoError(t, err)
				assert.Equal(t, "Ada", v.Name)
				return
			}
			var ae *apperr.Error
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, apperr.Invalid, ae.Kind)
			require.Len(t, ae.Fields, 1)
			assert.Equal(t, tt.wantField, ae.Fields[0].Field)
			assert.Contains(t, ae.Fields[0].Detail, "case-sensitive")
		})
	}

	var m map[string]string
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"Name":"Ada","nAmE2":"Eve"}`))
	require.NoError(t, web.Decode(httptest.NewRecorder(), r, &m), "a map's keys are data")
	assert.Equal(t, "Ada", m["Name"])
}

// Embedded is embedded in a request type: its fields are the type's own.
type Embedded struct {
	Note string `json:"note"`
}
