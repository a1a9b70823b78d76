package shopclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeShop is a shop's state as a fake of its routes serves it: the
// gateway's wallet and order routes and the apps' read routes on one
// server. The end-to-end tests and the benchmark run the audit against
// the real system; this holds the checker itself to catching each kind
// of broken invariant.
type fakeShop struct {
	mu       sync.Mutex
	stock    map[string]Stock
	held     int
	wallets  map[string]int64 // token → balance
	merchant int64
	orders   map[string]Order
	charges  map[string]Charge
}

func (f *fakeShop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	var out any
	switch p := r.URL.Path; {
	case p == "/stock":
		var items []Stock
		for _, s := range f.stock {
			items = append(items, s)
		}
		out = map[string]any{"items": items}
	case p == "/reservations":
		out = map[string]any{"items": make([]struct{}, f.held)}
	case p == "/merchant":
		out = map[string]int64{"balance_cents": f.merchant}
	case p == "/api/v1/wallet":
		out = map[string]int64{"balance_cents": f.wallets[token]}
	case strings.HasPrefix(p, "/api/v1/orders/"):
		out = f.orders[strings.TrimPrefix(p, "/api/v1/orders/")]
	case strings.HasPrefix(p, "/charges/"):
		ch, ok := f.charges[strings.TrimPrefix(p, "/charges/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		out = ch
	default:
		http.NotFound(w, r)
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

func TestAuditCatchesEveryBrokenInvariant(t *testing.T) {
	completed := Order{ID: "o1", UserID: "ada", Status: "completed", TotalCents: 500,
		Items: []Item{{ProductID: "mug", Quantity: 1, PriceCents: 500}}}
	cancelled := Order{ID: "o2", UserID: "ada", Status: "cancelled", TotalCents: 500, Reason: "declined",
		Items: []Item{{ProductID: "mug", Quantity: 1, PriceCents: 500}}}
	// after is the books once o1 completed and o2 was cancelled, as they
	// should be; each case breaks one thing.
	after := func() *fakeShop {
		return &fakeShop{
			stock:    map[string]Stock{"mug": {ID: "mug", Available: 9, Sold: 1}},
			wallets:  map[string]int64{"tok": 500},
			merchant: 500,
			orders:   map[string]Order{"o1": completed, "o2": cancelled},
			charges:  map[string]Charge{"o1": {AmountCents: 500, Status: "charged"}, "o2": {AmountCents: 500, Status: "refunded"}},
		}
	}
	tests := []struct {
		name    string
		breakIt func(f *fakeShop)
		problem string // a piece of the one problem expected; "" for none
		dups    int
		pending bool
	}{
		{name: "every invariant holds", breakIt: func(*fakeShop) {}},
		{name: "a unit lost", breakIt: func(f *fakeShop) { f.stock["mug"] = Stock{ID: "mug", Available: 8, Sold: 1} }, problem: "not conserved"},
		{name: "a reservation held", breakIt: func(f *fakeShop) { f.held = 1 }, problem: "reservations are held"},
		{name: "a completed order not charged", breakIt: func(f *fakeShop) { delete(f.charges, "o1") }, problem: "not charged its total"},
		{name: "a cancelled order paid", breakIt: func(f *fakeShop) { f.charges["o2"] = Charge{AmountCents: 500, Status: "charged"} }, problem: "is paid"},
		{name: "a cancelled order without its reason", breakIt: func(f *fakeShop) {
			o := f.orders["o2"]
			o.Reason = ""
			f.orders["o2"] = o
		}, problem: "does not say why"},
		{name: "a unit sold twice", breakIt: func(f *fakeShop) {
			f.stock["mug"] = Stock{ID: "mug", Available: 8, Sold: 2}
		}, problem: "units of mug were sold", dups: 1},
		{name: "a wallet charged twice", breakIt: func(f *fakeShop) { f.wallets["tok"] = 0; f.merchant = 1000 }, problem: "the wallet of ada lost 1000", dups: 1},
		{name: "the merchant short", breakIt: func(f *fakeShop) { f.merchant = 0 }, problem: "the merchant got 0"},
		{name: "a saga that does not end", breakIt: func(f *fakeShop) {
			o := f.orders["o2"]
			o.Status = "pending"
			f.orders["o2"] = o
		}, pending: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeShop{
				stock:   map[string]Stock{"mug": {ID: "mug", Available: 10}},
				wallets: map[string]int64{"tok": 1000},
				orders:  map[string]Order{},
			}
			srv := httptest.NewServer(f)
			defer srv.Close()
			apps := &Apps{Base: map[string]string{"catalog": srv.URL, "payments": srv.URL}, HTTP: srv.Client()}
			ctx := context.Background()
			a, err := Open(ctx, New(srv.URL, srv.Client()), apps, Shopper{ID: "ada", Token: "tok"})
			require.NoError(t, err)
			a.Placed("tok", Order{ID: "o1"})
			a.Placed("tok", Order{ID: "o2"})

			next := after()
			tt.breakIt(next)
			f.mu.Lock()
			f.stock, f.held, f.wallets, f.merchant, f.orders, f.charges = next.stock, next.held, next.wallets, next.merchant, next.orders, next.charges
			f.mu.Unlock()

			v := a.Check(ctx, 300*time.Millisecond)
			require.NoError(t, v.Err)
			switch {
			case tt.pending:
				assert.Equal(t, []string{"o2"}, v.Pending)
				assert.Equal(t, 1, v.Unknown)
				assert.False(t, v.Held())
				assert.False(t, v.Broken(), "what o2 may yet do explains the books: %v", v.Problems)
			case tt.problem == "":
				assert.True(t, v.Held(), "%v", v.Problems)
				assert.Equal(t, 1, v.Completed)
				assert.Equal(t, 1, v.Cancelled)
				assert.Contains(t, v.Summary(), "**held**")
			default:
				assert.True(t, v.Broken())
				require.NotEmpty(t, v.Problems)
				assert.Contains(t, strings.Join(v.Problems, "; "), tt.problem)
				assert.Contains(t, v.Summary(), "**broken**")
			}
			assert.Equal(t, tt.dups, v.Duplicates)
		})
	}
}
