package tests

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/web"
)

// The catalog's steps of the checkout saga (TCC), called on the catalog's
// own port with the app token, as its sidecar would deliver the orders
// saga's calls. Other tests run orders, and so sagas, against the same
// catalog: these use paper-filters-100 (500 units) and check stock only
// through the invariant, which holds at every moment.

// reservationProduct has stock enough for every test that reserves it.
const reservationProduct = "paper-filters-100"

type reservation struct {
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
	Items   []struct {
		ProductID string `json:"product_id"`
		Quantity  int64  `json:"quantity"`
	} `json:"items"`
	ExpiresAt time.Time `json:"expires_at"`
}

// catalogCall calls the catalog app directly, with its app token.
func catalogCall(t *testing.T, method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	contentType := ""
	if body != "" {
		contentType = "application/json"
	}
	return do(t, method, appURL(t, "catalog")+path, contentType, strings.NewReader(body),
		map[string]string{web.AppTokenHeader: sys.Env()["APP_API_TOKEN"]})
}

// requireProblem checks a problem answer of the catalog itself.
func requireProblem(t *testing.T, wantStatus int, status int, h http.Header, b []byte) problem {
	t.Helper()
	require.Equal(t, wantStatus, status, "%s", b)
	require.Equal(t, web.ProblemContentType, h.Get("Content-Type"), "%s", b)
	var p problem
	require.NoError(t, json.Unmarshal(b, &p), "%s", b)
	assert.Equal(t, wantStatus, p.Status)
	return p
}

// assertStockInvariant checks that no unit of any product was created or
// lost: available + reserved + sold is each product's seeded stock.
func assertStockInvariant(t *testing.T) {
	t.Helper()
	status, _, b := catalogCall(t, http.MethodGet, "/stock", "")
	require.Equal(t, http.StatusOK, status, "%s", b)
	var stock struct {
		Items []struct {
			ID        string `json:"id"`
			Available int64  `json:"available"`
			Reserved  int64  `json:"reserved"`
			Sold      int64  `json:"sold"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal(b, &stock), "%s", b)
	require.Len(t, stock.Items, len(seededProducts))
	for i, p := range seededProducts {
		got := stock.Items[i]
		require.Equal(t, p.ID, got.ID)
		assert.Equal(t, p.Available, got.Available+got.Reserved+got.Sold, "%s: available %d + reserved %d + sold %d", p.ID, got.Available, got.Reserved, got.Sold)
		assert.GreaterOrEqual(t, got.Available, int64(0), p.ID)
		assert.GreaterOrEqual(t, got.Reserved, int64(0), p.ID)
	}
}

// heldOrders returns the order ids of the reservations holding stock.
func heldOrders(t *testing.T) []string {
	t.Helper()
	status, _, b := catalogCall(t, http.MethodGet, "/reservations?status=reserved", "")
	require.Equal(t, http.StatusOK, status, "%s", b)
	var out struct {
		Items []reservation `json:"items"`
	}
	require.NoError(t, json.Unmarshal(b, &out), "%s", b)
	var ids []string
	for _, r := range out.Items {
		assert.Equal(t, "reserved", r.Status)
		ids = append(ids, r.OrderID)
	}
	return ids
}

func TestCatalogSagaSteps(t *testing.T) {
	skipShort(t)
	awaitCatalog(t)
	twoFilters := `{"items":[{"product_id":"` + reservationProduct + `","quantity":2}]}`
	type call struct {
		op         string // try, confirm, cancel, get
		wantStatus int
		wantState  string // the status in the answer, on success
	}
	tests := []struct {
		name  string
		calls []call
	}{
		{"try and confirm, each repeated; no cancel after", []call{
			{"try", 200, "reserved"}, {"try", 200, "reserved"}, {"get", 200, "reserved"},
			{"confirm", 200, "confirmed"}, {"confirm", 200, "confirmed"},
			{"cancel", 409, ""}, {"get", 200, "confirmed"},
		}},
		{"try and cancel, each repeated; no confirm after", []call{
			{"try", 200, "reserved"}, {"cancel", 200, "cancelled"}, {"cancel", 200, "cancelled"},
			{"confirm", 409, ""}, {"get", 200, "cancelled"},
		}},
		{"a cancel before the try blocks it", []call{
			{"cancel", 200, "cancelled"}, {"try", 409, ""}, {"confirm", 409, ""},
			{"cancel", 200, "cancelled"}, {"get", 404, ""},
		}},
		{"a confirm without a try", []call{
			{"confirm", 409, ""}, {"get", 404, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order := uuid.NewString()
			var first []byte // the try's first answer
			for i, c := range tt.calls {
				var status int
				var h http.Header
				var b []byte
				switch c.op {
				case "try":
					status, h, b = catalogCall(t, http.MethodPost, "/reservations/"+order+"/try", twoFilters)
				case "confirm", "cancel":
					status, h, b = catalogCall(t, http.MethodPost, "/reservations/"+order+"/"+c.op, "{}")
				case "get":
					status, h, b = catalogCall(t, http.MethodGet, "/reservations/"+order, "")
				}
				if c.wantStatus >= 400 {
					requireProblem(t, c.wantStatus, status, h, b)
					continue
				}
				require.Equal(t, c.wantStatus, status, "call %d (%s): %s", i, c.op, b)
				var r reservation
				require.NoError(t, json.Unmarshal(b, &r), "%s", b)
				assert.Equal(t, order, r.OrderID)
				assert.Equal(t, c.wantState, r.Status, "call %d (%s)", i, c.op)
				if c.op == "try" {
					if first == nil {
						first = b
						require.Len(t, r.Items, 1)
						assert.Equal(t, reservationProduct, r.Items[0].ProductID)
						assert.Equal(t, int64(2), r.Items[0].Quantity)
						assert.WithinDuration(t, time.Now().Add(2*time.Minute), r.ExpiresAt, time.Minute, "held for RESERVATION_TTL")
					} else {
						assert.JSONEq(t, string(first), string(b), "a repeat answers the same")
					}
				}
			}
			assert.NotContains(t, heldOrders(t), order, "nothing held once the saga ended")
			assertStockInvariant(t)
		})
	}
}

func TestCatalogSagaTryRefusals(t *testing.T) {
	skipShort(t)
	awaitCatalog(t)
	tests := []struct {
		name       string
		order      string
		body       string
		wantStatus int
		wantDetail string
	}{
		{"sold out", "", `{"items":[{"product_id":"limited-edition-geisha-250g","quantity":1}]}`, 422, "limited-edition-geisha-250g"},
		{"more than the stock", "", `{"items":[{"product_id":"` + reservationProduct + `","quantity":1},{"product_id":"espresso-machine","quantity":3}]}`, 422, "espresso-machine"},
		{"unknown product", "", `{"items":[{"product_id":"tea-kettle-2l","quantity":1}]}`, 422, "tea-kettle-2l"},
		{"order id not a UUID", "order-1", `{"items":[{"product_id":"` + reservationProduct + `","quantity":1}]}`, 400, ""},
		{"no lines", "", `{"items":[]}`, 400, ""},
		{"too many units", "", `{"items":[{"product_id":"` + reservationProduct + `","quantity":101}]}`, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order := tt.order
			if order == "" {
				order = uuid.NewString()
			}
			status, h, b := catalogCall(t, http.MethodPost, "/reservations/"+order+"/try", tt.body)
			p := requireProblem(t, tt.wantStatus, status, h, b)
			assert.Contains(t, p.Detail, tt.wantDetail)
			if tt.order == "" {
				status, _, b = catalogCall(t, http.MethodGet, "/reservations/"+order, "")
				assert.Equal(t, http.StatusNotFound, status, "nothing reserved: %s", b)
			}
		})
	}
	status, _, b := do(t, http.MethodPost, appURL(t, "catalog")+"/reservations/"+uuid.NewString()+"/try", "application/json",
		strings.NewReader(`{"items":[{"product_id":"`+reservationProduct+`","quantity":1}]}`), nil)
	assert.Equal(t, http.StatusUnauthorized, status, "no app token: %s", b)
	assertStockInvariant(t)
}

// Access control (dapr/config/catalog.yaml): orders may run the saga's
// steps through its sidecar; the gateway may not, and orders may not read
// the listings.
func TestCatalogSagaAccessControl(t *testing.T) {
	skipShort(t)
	order := uuid.NewString()
	allowed := []struct {
		name       string
		path       string
		wantStatus int // from the catalog itself
	}{
		{"orders cancels", "/reservations/" + order + "/cancel", http.StatusOK},
		{"orders tries (no body)", "/reservations/" + order + "/try", http.StatusBadRequest},
		{"orders confirms", "/reservations/" + order + "/confirm", http.StatusConflict},
	}
	for _, tt := range allowed {
		t.Run(tt.name, func(t *testing.T) {
			status, _, b := invokeVia(t, "orders", http.MethodPost, "catalog", tt.path)
			assert.Equal(t, tt.wantStatus, status, "%s", b)
			assert.NotContains(t, string(b), "access control policy")
		})
	}
	refused := []struct {
		name, via, method, path string
	}{
		{"the gateway may not reserve", "gateway", http.MethodPost, "/reservations/" + uuid.NewString() + "/try"},
		{"orders may not read a reservation", "orders", http.MethodGet, "/reservations/" + order},
		{"orders may not list the stock", "orders", http.MethodGet, "/stock"},
		{"orders may not list reservations", "orders", http.MethodGet, "/reservations"},
		{"orders may not record a goods receipt", "orders", http.MethodPut, "/products/ceramic-mug-350ml/receipts/" + uuid.NewString()},
		{"the gateway may not record a goods receipt", "gateway", http.MethodPut, "/products/ceramic-mug-350ml/receipts/" + uuid.NewString()},
		{"a `**` stands for one segment only", "orders", http.MethodPost, "/reservations/a/b/cancel"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			status, _, b := invokeVia(t, tt.via, tt.method, "catalog", tt.path)
			assert.Equal(t, http.StatusForbidden, status, "%s", b)
			assert.Contains(t, string(b), "access control policy has denied access to id: spiffe://public/ns/default/"+tt.via)
		})
	}
}
