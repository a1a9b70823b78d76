package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/sidecar"
)

// httpProductStore reads products over loopback HTTP from a server that
// stands in for the sidecar and its state store: each Get costs a real
// round trip (connection pool, syscalls, JSON), without daprd. Only Get is
// used by the benchmark.
type httpProductStore struct {
	productStore // nil: the other methods are not called
	url          string
	client       *http.Client
	calls        atomic.Int64
}

func (s *httpProductStore) Get(ctx context.Context, id string) (Product, error) {
	s.calls.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/v1.0/state/catalog-store/product-"+id, nil)
	if err != nil {
		return Product{}, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return Product{}, err
	}
	defer resp.Body.Close()
	var p Product
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return Product{}, err
	}
	return p, nil
}

// BenchmarkCatalogReads measures the catalog's read cache (TTL +
// singleflight, cache.go) under concurrent reads of a few hot products,
// against reading the store every time. variant=none reads the store;
// variant=cache is the cache as the catalog runs it (a 1 s TTL here);
// variant=singleflight-only gives the cache a TTL of zero, so every read
// misses and only singleflight's sharing of concurrent misses is left.
// store-calls/op is how many store reads one catalog read cost.
func BenchmarkCatalogReads(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '-')+1:]
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"`+id+`","name":"Ceramic Mug, 350 ml","price_cents":1200,"stock":{"available":80}}`)
	}))
	defer srv.Close()
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = fmt.Sprintf("product-%d", i)
	}
	for _, v := range []struct {
		name string
		ttl  time.Duration
		none bool
	}{
		{name: "none", none: true},
		{name: "cache", ttl: time.Second},
		{name: "singleflight-only", ttl: 0},
	} {
		b.Run("variant="+v.name, func(b *testing.B) {
			store := &httpProductStore{url: srv.URL, client: sidecar.NewHTTPClient(5 * time.Second)}
			var reads interface {
				Get(context.Context, string) (Product, error)
			} = store
			if !v.none {
				reads = newCache(store, v.ttl, time.Now)
			}
			ctx := context.Background()
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(8) // 16 readers on two cores: a busy catalog
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := ids[n.Add(1)%int64(len(ids))]
					if _, err := reads.Get(ctx, id); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(store.calls.Load())/float64(b.N), "store-calls/op")
		})
	}
}
