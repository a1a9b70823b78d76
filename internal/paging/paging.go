// Package paging reads and writes the limit and cursor of a paged list
// (GET /products?limit=&cursor=). A cursor is opaque to clients: it encodes
// the last key of the page it follows, so that a page stays correct while
// items are added before or after it (offsets would skip or repeat items).
package paging

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"

	"github.com/daprshop/daprshop/internal/apperr"
)

const (
	// DefaultLimit is the page size when the client names none.
	DefaultLimit = 20
	// MaxLimit is the largest page a client may ask for.
	MaxLimit = 100
	// maxCursorLen bounds what a client may send as a cursor.
	maxCursorLen = 512
	// cursorPrefix versions the encoding, so that a later change can tell
	// old cursors apart.
	cursorPrefix = "v1:"
)

// Page is a parsed page request: at most Limit items whose keys follow
// After (the start when After is empty).
type Page struct {
	Limit int
	After string
}

// Parse reads limit and cursor from a query. A bad value is an
// apperr.Invalid naming the field; nothing is echoed back.
func Parse(q url.Values) (Page, error) {
	p := Page{Limit: DefaultLimit}
	var bad []apperr.FieldError
	if vs, ok := q["limit"]; ok {
		n, err := strconv.Atoi(vs[0])
		switch {
		case len(vs) > 1:
			bad = append(bad, apperr.FieldError{Field: "limit", Detail: "must be given once"})
		case err != nil || n < 1 || n > MaxLimit:
			bad = append(bad, apperr.FieldError{Field: "limit", Detail: "must be a whole number from 1 to " + strconv.Itoa(MaxLimit)})
		default:
			p.Limit = n
		}
	}
	if vs, ok := q["cursor"]; ok {
		after, ok := decodeCursor(vs[0])
		switch {
		case len(vs) > 1:
			bad = append(bad, apperr.FieldError{Field: "cursor", Detail: "must be given once"})
		case !ok:
			bad = append(bad, apperr.FieldError{Field: "cursor", Detail: "is not a cursor this API returned"})
		default:
			p.After = after
		}
	}
	if len(bad) > 0 {
		return Page{}, apperr.InvalidFields(bad...)
	}
	return p, nil
}

// Cursor encodes the key of the last item of a page as the cursor of the
// next one.
func Cursor(lastKey string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + lastKey))
}

func decodeCursor(s string) (string, bool) {
	if s == "" || len(s) > maxCursorLen {
		return "", false
	}
	// One spelling per cursor: the decoder ignores \r and \n and, unless
	// strict, stray trailing bits (both found by FuzzParse), so only a
	// cursor that re-encodes to itself is taken.
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != s {
		return "", false
	}
	after, ok := strings.CutPrefix(string(b), cursorPrefix)
	if !ok || after == "" {
		return "", false
	}
	return after, true
}

// Slice returns the page of keys (sorted ascending) that follow p.After,
// and the cursor of the next page, empty when this page is the last.
func Slice(keys []string, p Page) (page []string, next string) {
	start := 0
	if p.After != "" {
		// The first key greater than After: a deleted key still pages on.
		lo, hi := 0, len(keys)
		for lo < hi {
			mid := (lo + hi) / 2
			if keys[mid] <= p.After {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		start = lo
	}
	end := min(start+p.Limit, len(keys))
	page = keys[start:end]
	if end < len(keys) && len(page) > 0 {
		next = Cursor(page[len(page)-1])
	}
	return page, next
}
