package tests

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type catalogProduct struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Available  int64  `json:"available"`
}

// seededProducts is our copy of the catalog service's seed table, in id
// order. Nothing moves stock yet, so every product shows its starting stock.
var seededProducts = []catalogProduct{
	{"burr-grinder", "Conical Burr Grinder", 8990, 3},
	{"ceramic-mug-350ml", "Ceramic Mug, 350 ml", 1200, 80},
	{"digital-scale", "Digital Coffee Scale", 2990, 30},
	{"espresso-beans-1kg", "Espresso Beans, 1 kg", 2450, 120},
	{"espresso-machine", "Dual-Boiler Espresso Machine", 129900, 2},
	{"filter-coffee-500g", "Filter Coffee, 500 g", 1290, 200},
	{"french-press-1l", "French Press, 1 l", 3490, 25},
	{"gooseneck-kettle", "Gooseneck Kettle, 0.9 l", 5990, 20},
	{"limited-edition-geisha-250g", "Limited Edition Geisha Beans, 250 g", 4990, 0},
	{"paper-filters-100", "Paper Filters, pack of 100", 590, 500},
	{"pour-over-dripper", "Ceramic Pour-Over Dripper", 2190, 40},
	{"travel-tumbler", "Insulated Travel Tumbler, 470 ml", 2490, 60},
}

type catalogPage struct {
	Items      []catalogProduct `json:"items"`
	NextCursor string           `json:"next_cursor"`
}

// awaitCatalog waits until the catalog has seeded itself: it does so in
// the background after start-up, and answers 503 until then.
func awaitCatalog(t *testing.T) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		status, _, b := do(t, http.MethodGet, gatewayURL(t)+"/api/v1/products?limit=1", "", nil, nil)
		assert.Equal(c, http.StatusOK, status, "%s", b)
	}, 60*time.Second, 100*time.Millisecond, "catalog seeded")
}

// Browsing needs no login: every page of five, in order, lists each seeded
// product once, as seeded.
func TestCatalogListsEverySeededProductOnce(t *testing.T) {
	skipShort(t)
	awaitCatalog(t)
	var got []catalogProduct
	var sizes []int
	cursor := ""
	for range len(seededProducts) + 1 { // bounded, should paging loop
		q := url.Values{"limit": {"5"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		status, hdr, b := do(t, http.MethodGet, gatewayURL(t)+"/api/v1/products?"+q.Encode(), "", nil, nil)
		require.Equal(t, http.StatusOK, status, "%s", b)
		assert.Equal(t, "application/json", hdr.Get("Content-Type"))
		var page catalogPage
		require.NoError(t, json.Unmarshal(b, &page), "%s", b)
		got = append(got, page.Items...)
		sizes = append(sizes, len(page.Items))
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	assert.Equal(t, []int{5, 5, 2}, sizes)
	// Stock moves as other tests check out; ids, names and prices do not.
	want := slices.Clone(seededProducts)
	for i := range want {
		want[i].Available = 0
	}
	for i := range got {
		assert.GreaterOrEqual(t, got[i].Available, int64(0))
		got[i].Available = 0
	}
	assert.Equal(t, want, got)
}

func TestCatalogGetsOneProduct(t *testing.T) {
	skipShort(t)
	awaitCatalog(t)
	tests := []struct {
		name string
		want catalogProduct
	}{
		{"in stock", seededProducts[3]},
		{"sold out", seededProducts[8]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, b := do(t, http.MethodGet, gatewayURL(t)+"/api/v1/products/"+tt.want.ID, "", nil, nil)
			require.Equal(t, http.StatusOK, status, "%s", b)
			var p catalogProduct
			require.NoError(t, json.Unmarshal(b, &p), "%s", b)
			assert.Equal(t, tt.want, p)
		})
	}
}

func TestCatalogRejectsBadRequests(t *testing.T) {
	skipShort(t)
	awaitCatalog(t)
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantField  string // named in the problem's errors, when not empty
	}{
		{"unknown product", "/api/v1/products/tea-kettle-2l", http.StatusNotFound, ""},
		{"id of the wrong shape", "/api/v1/products/Espresso_Beans", http.StatusBadRequest, "id"},
		{"zero limit", "/api/v1/products?limit=0", http.StatusBadRequest, "limit"},
		{"limit over 100", "/api/v1/products?limit=101", http.StatusBadRequest, "limit"},
		{"limit not a number", "/api/v1/products?limit=abc", http.StatusBadRequest, "limit"},
		{"cursor not one we gave", "/api/v1/products?cursor=bm90LWEtY3Vyc29y", http.StatusBadRequest, "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, b := do(t, http.MethodGet, gatewayURL(t)+tt.path, "", nil, nil)
			require.Equal(t, tt.wantStatus, status, "%s", b)
			assert.Equal(t, "application/problem+json", hdr.Get("Content-Type"))
			var p problem
			require.NoError(t, json.Unmarshal(b, &p), "%s", b)
			assert.Equal(t, tt.wantStatus, p.Status)
			if tt.wantField != "" {
				var fields []string
				for _, e := range p.Errors {
					fields = append(fields, e.Field)
				}
				assert.Equal(t, []string{tt.wantField}, fields)
			}
		})
	}
}
