package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/daprshop/daprshop/internal/daprdtest"
	"github.com/daprshop/daprshop/internal/state"
)

// sidecarReads counts the read calls that reach the sidecar.
type sidecarReads struct {
	state.Store
	reads atomic.Int64
}

func (c *sidecarReads) Get(ctx context.Context, keys ...string) (map[string]state.Item, error) {
	c.reads.Add(1)
	return c.Store.Get(ctx, keys...)
}

// pageSize is the storefront's page of the catalog (and the API's default
// is 20: the larger page shows the difference more plainly).
const benchPageSize = 20

// BenchmarkCatalogPage reads one page of the catalog, as GET /products
// does, from a real daprd on each kind of SQL store present
// (daprdtest.BenchStoreKinds), holding 100 products: the index, then the
// page's 20 products, one read per product (per-key, the N+1 queries) or
// one bulk read (bulk: what List does, which each of these stores runs as
// one SELECT on its primary key, IN (...) or = ANY($1)).
func BenchmarkCatalogPage(b *testing.B) {
	if testing.Short() {
		b.Skip("needs a real daprd")
	}
	ctx := context.Background()
	products := make([]Product, 100)
	for i := range products {
		products[i] = Product{ID: fmt.Sprintf("bench-product-%03d", i), Name: fmt.Sprintf("Product %d", i), PriceCents: 100 + int64(i), Stock: Stock{Available: 10}}
	}
	for _, kind := range daprdtest.BenchStoreKinds() {
		sc := daprdtest.Start(b, "catalog", daprdtest.StateStoreOf(kind, "catalog-store"))
		counted := &sidecarReads{Store: state.NewDaprStore(sc.Client, "catalog-store")}
		store := newStateProductStore(counted)
		if err := store.Seed(ctx, products); err != nil {
			b.Fatal(err)
		}
		for _, variant := range []string{"per-key", "bulk"} {
			b.Run(fmt.Sprintf("store=%s/variant=%s", kind, variant), func(b *testing.B) {
				counted.reads.Store(0)
				for b.Loop() {
					ids, err := store.Index(ctx)
					if err != nil {
						b.Fatal(err)
					}
					page := ids[:benchPageSize]
					if variant == "bulk" {
						got, err := store.GetMany(ctx, page)
						if err != nil || len(got) != len(page) {
							b.Fatalf("bulk read: %d of %d, %v", len(got), len(page), err)
						}
						continue
					}
					for _, id := range page {
						if _, err := store.Get(ctx, id); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(counted.reads.Load())/float64(b.N), "sidecar-reads/op")
			})
		}
	}
}
