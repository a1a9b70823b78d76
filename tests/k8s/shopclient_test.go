package k8s

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// shopClient is a customer's view of the shop: the gateway's public API.
type shopClient struct{ base string }

type customer struct {
	id, token string
	opening   int64 // the wallet's balance when it opened, in cents
}

type finalOrder struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Reason     string `json:"reason"`
	TotalCents int64  `json:"total_cents"`
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// doJSON sends body (JSON, when not empty) with header and decodes the
// answer into out when its status is want.
func doJSON(ctx context.Context, method, url, body string, header map[string]string, want int, out any) error {
	var r io.Reader
	if body != "" {
		r = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return &statusError{method + " " + url, resp.StatusCode, string(b)}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

type statusError struct {
	call   string
	status int
	body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("%s: %d %s", e.call, e.status, e.body) }

// newCustomer registers, logs in and waits for the wallet that payments
// opens on user.registered.
func (s *shopClient) newCustomer(t *testing.T, ctx context.Context, name string) customer {
	t.Helper()
	email := fmt.Sprintf("%s-%s@example.com", name, randomHex(4))
	var u struct {
		ID string `json:"id"`
	}
	require.NoError(t, retry(ctx, time.Minute, func() error {
		return doJSON(ctx, http.MethodPost, s.base+"/api/v1/users", fmt.Sprintf(`{"email":%q,"name":%q,"password":"correct horse battery"}`, email, name), nil, http.StatusCreated, &u)
	}), "register")
	var sess struct {
		Token string `json:"token"`
	}
	require.NoError(t, doJSON(ctx, http.MethodPost, s.base+"/api/v1/sessions", fmt.Sprintf(`{"email":%q,"password":"correct horse battery"}`, email), nil, http.StatusOK, &sess), "log in")
	c := customer{id: u.ID, token: sess.Token}
	require.NoError(t, poll(ctx, time.Minute, func() error {
		var err error
		c.opening, err = s.walletBalance(ctx, c)
		return err
	}), "the wallet opened from user.registered")
	return c
}

// wallet is the customer's balance in cents.
func (s *shopClient) wallet(t *testing.T, ctx context.Context, c customer) int64 {
	t.Helper()
	b, err := s.walletBalance(ctx, c)
	require.NoError(t, err)
	return b
}

func (s *shopClient) walletBalance(ctx context.Context, c customer) (int64, error) {
	var w struct {
		BalanceCents int64 `json:"balance_cents"`
	}
	err := doJSON(ctx, http.MethodGet, s.base+"/api/v1/wallet", "", c.auth(), http.StatusOK, &w)
	return w.BalanceCents, err
}

func (c customer) auth() map[string]string {
	return map[string]string{"Authorization": "Bearer " + c.token}
}

// recommendations reads what the shop says was bought with product, as
// product → orders.
func (s *shopClient) recommendations(ctx context.Context, t require.TestingT, product string) map[string]int {
	var page struct {
		Items []struct {
			ProductID string `json:"product_id"`
			Orders    int    `json:"orders"`
		} `json:"items"`
	}
	require.NoError(t, doJSON(ctx, http.MethodGet, s.base+"/api/v1/products/"+product+"/recommendations", "", nil, http.StatusOK, &page))
	got := map[string]int{}
	for _, r := range page.Items {
		got[r.ProductID] = r.Orders
	}
	return got
}

// twoInStock returns two products with stock to spare.
func (s *shopClient) twoInStock(t *testing.T, ctx context.Context) (string, string) {
	t.Helper()
	var page struct {
		Items []struct {
			ID        string `json:"id"`
			Available int64  `json:"available"`
		} `json:"items"`
	}
	require.NoError(t, doJSON(ctx, http.MethodGet, s.base+"/api/v1/products?limit=100", "", nil, http.StatusOK, &page))
	var ids []string
	for _, p := range page.Items {
		if p.Available >= 30 {
			ids = append(ids, p.ID)
		}
	}
	require.GreaterOrEqual(t, len(ids), 2, "the seeded catalog has two products with 30 units or more")
	return ids[0], ids[1]
}

// checkout places an order and returns its id.
func (s *shopClient) checkout(t *testing.T, ctx context.Context, u customer, body string) string {
	t.Helper()
	id, err := s.place(ctx, u, body, randomHex(8))
	require.NoError(t, err)
	return id
}

// place posts an order with an Idempotency-Key, and retries as a client
// should while the system answers 502, 503 or 409 (the same key still in
// flight): the key makes each retry the same order.
func (s *shopClient) place(ctx context.Context, u customer, body, key string) (string, error) {
	h := u.auth()
	h["Idempotency-Key"] = key
	var o finalOrder
	err := retry(ctx, 2*time.Minute, func() error {
		err := doJSON(ctx, http.MethodPost, s.base+"/api/v1/orders", body, h, http.StatusAccepted, &o)
		var se *statusError
		if errors.As(err, &se) && se.status == http.StatusOK {
			return json.Unmarshal([]byte(se.body), &o) // the key's order, already placed
		}
		return err
	})
	return o.ID, err
}

// awaitFinal waits until the order is completed or cancelled.
func (s *shopClient) awaitFinal(t *testing.T, ctx context.Context, u customer, id string, within time.Duration) finalOrder {
	t.Helper()
	var o finalOrder
	require.NoError(t, poll(ctx, within, func() error {
		if err := doJSON(ctx, http.MethodGet, s.base+"/api/v1/orders/"+id, "", u.auth(), http.StatusOK, &o); err != nil {
			return err
		}
		if o.Status == "pending" {
			return fmt.Errorf("order %s still pending", id)
		}
		return nil
	}), "order %s finished", id)
	return o
}

// retry runs f until it succeeds, while it fails with a status a client
// retries (502, 503, 409) or a transport error.
func retry(ctx context.Context, within time.Duration, f func() error) error {
	return poll(ctx, within, func() error {
		err := f()
		var se *statusError
		if errors.As(err, &se) && se.status != http.StatusBadGateway && se.status != http.StatusServiceUnavailable && se.status != http.StatusConflict {
			return stopPolling{err}
		}
		return err
	})
}
