// Package web holds the HTTP plumbing every service shares: strict JSON in,
// JSON out, RFC 9457 problem responses mapped from apperr kinds in one place,
// health endpoints and the app API token check.
package web

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/daprshop/daprshop/internal/apperr"
)

// MaxBodyBytes is the largest request body any service accepts (1 MiB).
const MaxBodyBytes = 1 << 20

// Validator is implemented by request types that check their own fields
// after decoding.
type Validator interface {
	Validate() error
}

// maxDepth bounds how deeply a request body may nest objects and arrays.
const maxDepth = 32

// Decode reads exactly one JSON value from r's body into v, strictly:
// the Content-Type must be JSON, unknown fields are rejected, a field must
// be spelled exactly as documented (encoding/json matches fields
// case-insensitively, so "Items" would fill items), a key may not appear
// twice in an object (nor in another letter case, which encoding/json
// would let the last one win: a way to smuggle a field past a check),
// objects and arrays nest at most
// maxDepth deep, trailing data is rejected and the body may not exceed
// MaxBodyBytes. When v implements Validator, Validate runs too. Every
// failure is an *apperr.Error naming the field or the limit.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return apperr.E(apperr.UnsupportedMedia, "Content-Type must be application/json, got %q", ct)
		}
	}
	if r.ContentLength > MaxBodyBytes {
		return tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return tooLarge()
		}
		return apperr.Wrap(apperr.Invalid, err, "the body could not be read")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if derr := checkKeys(body, nil); derr != nil {
			return derr // a nesting or duplicate-key problem explains more than the decoder's error
		}
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return apperr.E(apperr.Invalid, "the body must hold a single JSON value")
	}
	names, _ := fieldNamesOf(reflect.TypeOf(v))
	if err := checkKeys(body, names); err != nil {
		return err
	}
	if val, ok := v.(Validator); ok {
		return val.Validate()
	}
	return nil
}

// checkKeys walks the first JSON value of body and refuses keys repeated in
// one object (in any letter case) and nesting deeper than maxDepth. With
// names (the exact field names of the decoded type), it also refuses a key
// that is none of them: the decoder matched it to a field (it refuses
// unknown ones) in another letter case. Syntax errors are left to the
// decoder.
func checkKeys(body []byte, names map[string]bool) error {
	type frame struct {
		object    bool
		expectKey bool
		keys      map[string]bool
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if len(stack) >= maxDepth {
					return apperr.E(apperr.Invalid, "the body nests deeper than %d levels", maxDepth)
				}
				if top != nil && top.object {
					top.expectKey = true // the nested value is the current key's
				}
				stack = append(stack, &frame{object: t == '{', expectKey: true, keys: map[string]bool{}})
			default: // '}' or ']'
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return nil
				}
			}
		case string:
			if top != nil && top.object && top.expectKey {
				folded := strings.ToLower(t)
				if top.keys[folded] {
					if len(t) > maxEchoedField {
						return apperr.E(apperr.Invalid, "the body repeats a field")
					}
					return apperr.InvalidFields(apperr.FieldError{Field: t, Detail: "appears more than once (letter case aside)"})
				}
				if names != nil && !names[t] {
					if len(t) > maxEchoedField {
						return apperr.E(apperr.Invalid, "the body has a field in another letter case than documented")
					}
					return apperr.InvalidFields(apperr.FieldError{Field: t, Detail: "unknown field (field names are case-sensitive)"})
				}
				top.keys[folded] = true
				top.expectKey = false
				continue
			}
			if top == nil {
				return nil
			}
			if top.object {
				top.expectKey = true
			}
		default:
			if top == nil {
				return nil
			}
			if top.object {
				top.expectKey = true
			}
		}
	}
}

// fieldNames caches fieldNamesOf per type.
var fieldNames sync.Map // reflect.Type → map[string]bool, or nil

// fieldNamesOf returns the JSON names of every struct field reachable from
// t (through pointers, slices, arrays and nested structs), or false when t
// holds a map or an interface, whose keys are data, not field names.
func fieldNamesOf(t reflect.Type) (map[string]bool, bool) {
	if t == nil {
		return nil, false
	}
	if v, ok := fieldNames.Load(t); ok {
		names, _ := v.(map[string]bool)
		return names, names != nil
	}
	names := map[string]bool{}
	ok := collectFieldNames(t, names, map[reflect.Type]bool{})
	if !ok {
		names = nil
	}
	fieldNames.Store(t, names)
	return names, ok
}

func collectFieldNames(t reflect.Type, names map[string]bool, seen map[reflect.Type]bool) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Map, reflect.Interface:
		return false
	case reflect.Struct:
	default:
		return true
	}
	if seen[t] {
		return true
	}
	seen[t] = true
	implements := func(i reflect.Type) bool { return t.Implements(i) || reflect.PointerTo(t).Implements(i) }
	switch {
	case implements(reflect.TypeFor[encoding.TextUnmarshaler]()):
		return true // a string in JSON (time.Time): no keys
	case implements(reflect.TypeFor[json.Unmarshaler]()):
		return false // it reads its own keys
	}
	for f := range t.Fields() {
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if !collectFieldNames(f.Type, names, seen) {
				return false
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = true
		if !collectFieldNames(f.Type, names, seen) {
			return false
		}
	}
	return true
}

func tooLarge() error {
	return apperr.E(apperr.TooLarge, "the body is larger than the limit of %d bytes", MaxBodyBytes)
}

// decodeError turns the errors of encoding/json into messages that name the
// field or the position, without echoing the client's input back.
func decodeError(err error) error {
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return apperr.E(apperr.Invalid, "the body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.E(apperr.Invalid, "the body is truncated JSON")
	case errors.As(err, &syntaxErr):
		return apperr.E(apperr.Invalid, "malformed JSON at byte offset %d", syntaxErr.Offset)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return apperr.E(apperr.Invalid, "the body must be a JSON %s, not %s", "object", typeErr.Value)
		}
		return apperr.InvalidFields(apperr.FieldError{Field: field, Detail: fmt.Sprintf("must be of type %s, not %s", jsonType(typeErr.Type.Kind().String()), valueKind(typeErr.Value))})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if uerr != nil || len(field) > maxEchoedField {
			return apperr.E(apperr.Invalid, "the body has an unknown field")
		}
		return apperr.InvalidFields(apperr.FieldError{Field: field, Detail: "unknown field"})
	default:
		return apperr.Wrap(apperr.Invalid, err, "the body is not valid JSON")
	}
}

// maxEchoedField bounds a field name quoted back to the client.
const maxEchoedField = 64

// valueKind names the kind of a JSON value encoding/json describes, without
// the literal it sometimes carries ("number 1e999").
func valueKind(v string) string {
	kind, _, _ := strings.Cut(v, " ")
	return kind
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	default:
		return "number"
	}
}

// Respond writes v as JSON with the given status.
func Respond(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		// The status is on the wire already: an encoding error here can only
		// be a client gone away, which nobody can be told about.
		_ = json.NewEncoder(w).Encode(v)
	}
}
