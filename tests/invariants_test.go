package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stock is one product's units as the catalog keeps them.
type stock struct {
	ID        string `json:"id"`
	Available int64  `json:"available"`
	Reserved  int64  `json:"reserved"`
	Sold      int64  `json:"sold"`
}

// initialStock is every product's total units when the suite began (the
// seed: each run starts from fresh data), read by TestMain.
var initialStock map[string]int64

// callApp calls an app's own port with the app token, as its sidecar does:
// the services' internal read routes, for the invariant checker.
func callApp(t require.TestingT, appID, method, path string, body string) (int, []byte) {
	a, ok := sys.App(appID)
	require.True(t, ok, "app %s", appID)
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", a.AppPort, path), strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("dapr-api-token", sys.Env()["APP_API_TOKEN"])
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&b)
	return resp.StatusCode, b
}

func readStock(t require.TestingT) map[string]stock {
	status, b := callApp(t, "catalog", http.MethodGet, "/stock", "")
	require.Equal(t, http.StatusOK, status, "%s", b)
	var out struct {
		Items []stock `json:"items"`
	}
	require.NoError(t, json.Unmarshal(b, &out))
	m := map[string]stock{}
	for _, s := range out.Items {
		m[s.ID] = s
	}
	return m
}

func merchantBalance(t require.TestingT) int64 {
	status, b := callApp(t, "payments", http.MethodGet, "/merchant", "")
	require.Equal(t, http.StatusOK, status, "%s", b)
	var m struct {
		BalanceCents int64 `json:"balance_cents"`
	}
	require.NoError(t, json.Unmarshal(b, &m))
	return m.BalanceCents
}

func walletBalance(t *testing.T, u user) int64 {
	t.Helper()
	status, _, b := do(t, http.MethodGet, gatewayURL(t)+"/api/v1/wallet", "", nil, map[string]string{"Authorization": "Bearer " + u.Token})
	require.Equal(t, http.StatusOK, status, "%s", b)
	var w struct {
		BalanceCents int64 `json:"balance_cents"`
	}
	require.NoError(t, json.Unmarshal(b, &w))
	return w.BalanceCents
}

// scenario is what the invariant checker needs of a test: its users (each
// with a fresh wallet), the orders they placed, and the merchant's balance
// before it began. Tests in this package run one at a time, so the
// merchant's change belongs to the scenario.
type scenario struct {
	users          []user
	orders         map[string]user // order id → who placed it
	merchantBefore int64
}

func newScenario(t *testing.T, names ...string) *scenario {
	t.Helper()
	sc := &scenario{orders: map[string]user{}, merchantBefore: merchantBalance(t)}
	for _, n := range names {
		u := registerUser(t, n)
		awaitWallet(t, u)
		sc.users = append(sc.users, u)
	}
	return sc
}

// awaitWallet waits for the user's wallet, opened from user.registered.
func awaitWallet(t *testing.T, u user) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		status, _, _ := do(t, http.MethodGet, gatewayURL(t)+"/api/v1/wallet", "", nil, map[string]string{"Authorization": "Bearer " + u.Token})
		assert.Equal(c, http.StatusOK, status)
	}, 30*time.Second, 100*time.Millisecond, "wallet of %s", u.ID)
}

// awaitFinal waits until an order is completed or cancelled and returns it.
func awaitFinal(t *testing.T, u user, orderID string, within time.Duration) sagaOrder {
	t.Helper()
	var o sagaOrder
	if !assert.EventuallyWithT(t, func(c *assert.CollectT) {
		status, b := getAs(t, u, "/api/v1/orders/"+orderID)
		if !assert.Equal(c, http.StatusOK, status, "%s", b) {
			return
		}
		assert.NoError(c, json.Unmarshal(b, &o))
		assert.NotEqual(c, "pending", o.Status)
	}, within, 100*time.Millisecond, "order %s finished", orderID) {
		// Where its saga is, as the workflow engine sees it: what a stuck
		// order needs to be explained.
		t.Logf("saga of order %s: %s", orderID, workflowStatus(t, orderID))
		t.FailNow()
	}
	return o
}

// sagaOrder is an order as the API shows it once its saga ran.
type sagaOrder struct {
	order
	Reason string `json:"reason"`
	Steps  []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Detail string `json:"detail"`
	} `json:"steps"`
}

func (o sagaOrder) step(name, status string) bool {
	for _, s := range o.Steps {
		if s.Name == name && s.Status == status {
			return true
		}
	}
	return false
}

// check asserts, once every saga of the scenario has ended, the invariants
// of the system: per product, available + reserved + sold equals the
// initial stock; no reservation is held; each completed order was charged
// exactly its total once and each cancelled one nets zero (never both paid
// and cancelled); money across the scenario's wallets and the merchant is
// what the wallets started with.
func (sc *scenario) check(t *testing.T) {
	t.Helper()
	finals := map[string]sagaOrder{}
	for id, u := range sc.orders {
		finals[id] = awaitFinal(t, u, id, 2*time.Minute)
	}
	for id, s := range readStock(t) {
		assert.Equal(t, initialStock[id], s.Available+s.Reserved+s.Sold, "units of %s are conserved: %+v", id, s)
		assert.GreaterOrEqual(t, s.Available, int64(0), id)
	}
	status, b := callApp(t, "catalog", http.MethodGet, "/reservations?status=reserved", "")
	require.Equal(t, http.StatusOK, status, "%s", b)
	var held struct {
		Items []json.RawMessage `json:"items"`
	}
	require.NoError(t, json.Unmarshal(b, &held))
	assert.Empty(t, held.Items, "no reservation is held once the sagas ended")

	var charged int64
	for id, o := range finals {
		status, b := callApp(t, "payments", http.MethodGet, "/charges/"+id, "")
		var ch struct {
			AmountCents int64  `json:"amount_cents"`
			Status      string `json:"status"`
		}
		if status == http.StatusOK {
			require.NoError(t, json.Unmarshal(b, &ch))
		} else {
			require.Equal(t, http.StatusNotFound, status, "%s", b)
		}
		switch o.Status {
		case "completed":
			assert.Equal(t, "charged", ch.Status, "completed order %s was charged", id)
			assert.Equal(t, o.TotalCents, ch.AmountCents, "completed order %s was charged its total", id)
			charged += ch.AmountCents
		case "cancelled":
			assert.NotEqual(t, "charged", ch.Status, "cancelled order %s is not paid", id)
			assert.NotEmpty(t, o.Reason, "cancelled order %s says why", id)
		default:
			t.Errorf("order %s ended %q", id, o.Status)
		}
	}
	var wallets int64
	for _, u := range sc.users {
		wallets += walletBalance(t, u)
	}
	startCredit := int64(100000) * int64(len(sc.users))
	assert.Equal(t, startCredit, wallets+charged, "the wallets lost exactly what completed orders cost")
	assert.Equal(t, charged, merchantBalance(t)-sc.merchantBefore, "the merchant got exactly that")
}

// loadInitialStock reads every product's total units before any test runs.
func loadInitialStock() error {
	var out struct {
		Items []stock `json:"items"`
	}
	if err := getFromApp("catalog", "/stock", &out); err != nil {
		return err
	}
	initialStock = map[string]int64{}
	for _, s := range out.Items {
		initialStock[s.ID] = s.Available + s.Reserved + s.Sold
	}
	return nil
}
