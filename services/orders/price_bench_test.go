package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/sidecar"
)

// priceUnbounded is service.price without the bound: one goroutine, and
// so one catalog call in flight, per line. Kept here only for
// BenchmarkPriceFanOut to measure the bound against.
func (s *service) priceUnbounded(ctx context.Context, lines []line) ([]Item, error) {
	items := make([]Item, len(lines))
	g, gctx := errgroup.WithContext(ctx)
	for i, l := range lines {
		g.Go(func() error {
			p, err := s.catalog.Product(gctx, l.ProductID)
			if apperr.Is(err, apperr.NotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			items[i] = Item{ProductID: p.ID, Name: p.Name, Quantity: l.Quantity, PriceCents: p.PriceCents}
			return nil
		})
	}
	return items, g.Wait()
}

// BenchmarkPriceFanOut prices orders of 20 lines, 8 orders at a time, each
// line a catalog call through the real adapter (daprCatalog, the shared
// HTTP client) to a loopback server standing in for the sidecar:
// variant=bounded is service.price as it runs (lookups calls at once per
// order), variant=unbounded starts every call at once. With latency=0 the
// server answers at once (CPU-bound, as a busy sidecar on two cores);
// with latency=1ms each answer waits a millisecond, about the two-sidecar
// round trip of part 1 in docs/benchmarks.md. peak-inflight is the most
// calls the server held at once; conns/op the connections it accepted per
// order.
func BenchmarkPriceFanOut(b *testing.B) {
	lines := make([]line, 20)
	for i := range lines {
		lines[i] = line{ProductID: fmt.Sprintf("product-%02d", i), Quantity: 1}
	}
	for _, latency := range []time.Duration{0, time.Millisecond} {
		var inflight, peak, conns atomic.Int64
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			if latency > 0 {
				<-time.After(latency) // the modelled network and sidecar time
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"product-01","name":"Ceramic Mug, 350 ml","price_cents":1200}`)
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		cat := newDaprCatalog(sidecar.Config{Host: host, HTTPPort: port}, "catalog", sidecar.NewHTTPClient(5*time.Second))
		s := &service{catalog: cat}
		for _, v := range []struct {
			name  string
			price func(context.Context, []line) ([]Item, error)
		}{
			{"bounded", s.price},
			{"unbounded", s.priceUnbounded},
		} {
			b.Run(fmt.Sprintf("latency=%s/variant=%s", latency, v.name), func(b *testing.B) {
				peak.Store(0)
				conns.Store(0)
				ctx := context.Background()
				b.ReportAllocs()
				b.SetParallelism(4) // 8 orders at once on two cores
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := v.price(ctx, lines); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(peak.Load()), "peak-inflight")
				b.ReportMetric(float64(conns.Load())/float64(b.N), "conns/op")
			})
		}
		srv.Close()
	}
}
