package sidecar_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/daprshop/daprshop/internal/sidecar"
)

// BenchmarkHTTPClient measures the practice of NewHTTPClient: one client,
// and so one pool of kept-alive connections, shared by every call, against
// the same client made anew per call (its own transport, traced the same
// way), which dials a new connection each time. The server stands in for the sidecar, on loopback. conns/op counts
// the connections the server accepted per call.
// (`make bench` compares the variants with benchstat; docs/benchmarks.md.)
func BenchmarkHTTPClient(b *testing.B) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"p1","name":"Mug","price_cents":1200}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	get := func(b *testing.B, c *http.Client) {
		resp, err := c.Get(srv.URL + "/v1.0/invoke/catalog/method/products/p1") //nolint:noctx // a benchmark against loopback
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.Run("variant=shared", func(b *testing.B) {
		c := sidecar.NewHTTPClient(5 * time.Second)
		conns.Store(0)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				get(b, c)
			}
		})
		b.ReportMetric(float64(conns.Load())/float64(b.N), "conns/op")
	})
	b.Run("variant=per-call", func(b *testing.B) {
		conns.Store(0)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				// NewHTTPClient's client made anew for the call. Its
				// connection cannot be reused, so it is closed after the
				// answer (Connection: close); kept open, each call would
				// leak a connection and its goroutines until the process
				// runs out of file descriptors (it does, here).
				t := http.DefaultTransport.(*http.Transport).Clone()
				t.MaxIdleConnsPerHost = 64
				t.DisableKeepAlives = true
				get(b, &http.Client{Transport: otelhttp.NewTransport(t), Timeout: 5 * time.Second})
			}
		})
		b.ReportMetric(float64(conns.Load())/float64(b.N), "conns/op")
	})
}
