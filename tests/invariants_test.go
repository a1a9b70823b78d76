package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/shopclient"
)

// stock is one product's units as the catalog keeps them; sagaOrder is an
// order as the API shows it once its saga ran. Both are the shop client's.
type (
	stock     = shopclient.Stock
	sagaOrder = shopclient.Order
)

// callApp calls an app's own port with the app token, as its sidecar does:
// the services' internal routes that no client of the shop exposes.
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
	s, err := auditor.Stock(context.Background())
	require.NoError(t, err)
	return s
}

func merchantBalance(t require.TestingT) int64 {
	m, err := auditor.Merchant(context.Background())
	require.NoError(t, err)
	return m
}

func walletBalance(t *testing.T, u user) int64 {
	t.Helper()
	b, err := shop.Wallet(context.Background(), u.Token)
	require.NoError(t, err)
	return b
}

// scenario is what the invariant checker needs of a test: its users (each
// with a fresh wallet) and the orders they placed; the audit read the
// books when it began. Tests in this package run one at a time, so what
// moves while a scenario is open belongs to it.
type scenario struct {
	users          []user
	orders         map[string]user // order id → who placed it
	merchantBefore int64
	audit          *shopclient.Audit
}

func newScenario(t *testing.T, names ...string) *scenario {
	t.Helper()
	sc := &scenario{orders: map[string]user{}}
	var shoppers []shopclient.Shopper
	for _, n := range names {
		u := registerUser(t, n)
		awaitWallet(t, u)
		sc.users = append(sc.users, u)
		shoppers = append(shoppers, shopclient.Shopper{ID: u.ID, Token: u.Token})
	}
	var err error
	sc.audit, err = shopclient.Open(context.Background(), shop, auditor, shoppers...)
	require.NoError(t, err)
	sc.merchantBefore = merchantBalance(t)
	return sc
}

// awaitWallet waits for the user's wallet, opened from user.registered.
func awaitWallet(t *testing.T, u user) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := shop.Wallet(context.Background(), u.Token)
		assert.NoError(c, err)
	}, 30*time.Second, 100*time.Millisecond, "wallet of %s", u.ID)
}

// awaitFinal waits until an order is completed or cancelled and returns it.
func awaitFinal(t *testing.T, u user, orderID string, within time.Duration) sagaOrder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	o, err := shop.AwaitFinal(ctx, u.Token, orderID, 100*time.Millisecond)
	if err != nil {
		// Where its saga is, as the workflow engine sees it: what a stuck
		// order needs to be explained.
		t.Logf("saga of order %s: %s", orderID, workflowStatus(t, orderID))
		require.NoError(t, err)
	}
	return o
}

// check asserts, once every saga of the scenario has ended, the invariants
// of the system, by the audit the benchmark runs too (shopclient.Audit
// lists them): no unit made or lost, no reservation held, each completed
// order charged exactly its total once and no cancelled one paid, and the
// units sold and the money moved exactly what the completed orders
// account for, per product and per wallet.
func (sc *scenario) check(t *testing.T) {
	t.Helper()
	for id, u := range sc.orders {
		sc.audit.Placed(u.Token, shopclient.Order{ID: id})
	}
	v := sc.audit.Check(context.Background(), 2*time.Minute)
	require.NoError(t, v.Err)
	for _, id := range v.Pending {
		// Where its saga is, as the workflow engine sees it: what a stuck
		// order needs to be explained.
		t.Logf("saga of order %s: %s", id, workflowStatus(t, id))
	}
	assert.Empty(t, v.Pending, "every order ended")
	assert.Empty(t, v.Problems, "the invariants hold")
	assert.Equal(t, len(sc.orders), v.Completed+v.Cancelled, "every order completed or cancelled")
}
