package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/daprshop/daprshop/internal/web"
)

// discardWriter is a ResponseWriter that throws the body away, so that the
// benchmark measures the encoding, not a recorder's buffer.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return io.Discard.Write(b) }
func (w *discardWriter) WriteHeader(int)             {}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// respondPooled is Respond with the body encoded into a pooled buffer
// first (which also allows a Content-Length), the usual sync.Pool advice.
func respondPooled(w http.ResponseWriter, status int, v any) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	_ = json.NewEncoder(buf).Encode(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type benchProduct struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Available  int64  `json:"available"`
}

// BenchmarkRespond writes a page of 20 products (about 1.5 KB of JSON) as
// every service answers: variant=encoder is web.Respond (json.Encoder
// straight into the ResponseWriter, which net/http buffers already),
// variant=pool encodes into a sync.Pool buffer first.
func BenchmarkRespond(b *testing.B) {
	page := struct {
		Items      []benchProduct `json:"items"`
		NextCursor string         `json:"next_cursor"`
	}{NextCursor: "djE6Y2VyYW1pYy1tdWctMzUwbWw"}
	for i := range 20 {
		page.Items = append(page.Items, benchProduct{ID: "product-" + strconv.Itoa(i), Name: "Ceramic Pour-Over Dripper", PriceCents: 2190, Available: 40})
	}
	for _, v := range []struct {
		name    string
		respond func(http.ResponseWriter, int, any)
	}{{"encoder", web.Respond}, {"pool", respondPooled}} {
		b.Run("variant="+v.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					v.respond(w, http.StatusOK, page)
				}
			})
		})
	}
}
