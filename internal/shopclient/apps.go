package shopclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/daprshop/daprshop/internal/launcher"
)

// Apps reads the services' internal routes on their own ports, with the
// app token their sidecars present: what an auditor of a run needs that
// the public API does not show (reserved and sold units, held
// reservations, charges, the merchant's balance). Nothing but a test or
// the benchmark calls them this way; in the system only sidecars reach an
// app's port.
type Apps struct {
	Base  map[string]string // app id → http://127.0.0.1:<app port>
	Token string            // APP_API_TOKEN
	HTTP  *http.Client
}

// ForSystem returns the public client (through the gateway) and the
// auditor's client of a system the launcher started.
func ForSystem(sys *launcher.System, hc *http.Client) (*Client, *Apps, error) {
	apps := &Apps{Base: map[string]string{}, Token: sys.Env()["APP_API_TOKEN"], HTTP: &http.Client{Timeout: 30 * time.Second}}
	for _, id := range []string{"gateway", "users", "catalog", "orders", "payments", "notifications"} {
		a, ok := sys.App(id)
		if !ok {
			return nil, nil, fmt.Errorf("no app %s in the run file", id)
		}
		apps.Base[id] = "http://127.0.0.1:" + strconv.Itoa(a.AppPort)
	}
	// recommendations runs where Node.js does (the launcher skips it
	// elsewhere, and the shop works without it).
	if a, ok := sys.App("recommendations"); ok {
		apps.Base["recommendations"] = "http://127.0.0.1:" + strconv.Itoa(a.AppPort)
	}
	return New(apps.Base["gateway"], hc), apps, nil
}

// Stock is one product's units as the catalog keeps them.
type Stock struct {
	ID        string `json:"id"`
	Available int64  `json:"available"`
	Reserved  int64  `json:"reserved"`
	Sold      int64  `json:"sold"`
}

// Total is the product's units whatever their state: a saga moves units
// between the states and never makes or loses one.
func (s Stock) Total() int64 { return s.Available + s.Reserved + s.Sold }

// Charge is what payments recorded for an order.
type Charge struct {
	AmountCents int64  `json:"amount_cents"`
	Status      string `json:"status"` // charged, refunded
}

func (a *Apps) call(ctx context.Context, op, app, path string, want int, out any) error {
	return a.do(ctx, op, app, Request{Method: http.MethodGet, Path: path}, want, out)
}

func (a *Apps) do(ctx context.Context, op, app string, req Request, want int, out any) error {
	base, ok := a.Base[app]
	if !ok {
		return fmt.Errorf("%s: no app %s", op, app)
	}
	req.Header = map[string]string{"dapr-api-token": a.Token}
	resp, err := send(ctx, a.HTTP, base+req.Path, req)
	return decode(op, resp, err, want, out)
}

// Receive records goods received into the catalog: units of a product,
// once per receipt id (the same receipt again changes nothing). The units
// enter the books: a run that receives goods does so before its audit is
// opened.
func (a *Apps) Receive(ctx context.Context, product, receipt string, units int64) (Stock, error) {
	var s Stock
	req := Request{Method: http.MethodPut, Path: "/products/" + url.PathEscape(product) + "/receipts/" + url.PathEscape(receipt), Body: map[string]int64{"units": units}}
	err := a.do(ctx, fmt.Sprintf("receive %d units of %s", units, product), "catalog", req, http.StatusOK, &s)
	return s, err
}

// Stock reads every product's units from the catalog (never cached).
func (a *Apps) Stock(ctx context.Context) (map[string]Stock, error) {
	var page struct {
		Items []Stock `json:"items"`
	}
	if err := a.call(ctx, "read the stock", "catalog", "/stock", http.StatusOK, &page); err != nil {
		return nil, err
	}
	out := make(map[string]Stock, len(page.Items))
	for _, s := range page.Items {
		out[s.ID] = s
	}
	return out, nil
}

// HeldReservations counts the catalog's reservations still held.
func (a *Apps) HeldReservations(ctx context.Context) (int, error) {
	var page struct {
		Items []struct{} `json:"items"`
	}
	err := a.call(ctx, "read the held reservations", "catalog", "/reservations?status=reserved", http.StatusOK, &page)
	return len(page.Items), err
}

// Charge reads payments' charge of an order; found is false when there is
// none.
func (a *Apps) Charge(ctx context.Context, orderID string) (ch Charge, found bool, err error) {
	err = a.call(ctx, "read the charge of "+orderID, "payments", "/charges/"+orderID, http.StatusOK, &ch)
	var se *StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return Charge{}, false, nil
	}
	return ch, err == nil, err
}

// Merchant reads the merchant's balance in cents.
func (a *Apps) Merchant(ctx context.Context) (int64, error) {
	var m struct {
		BalanceCents int64 `json:"balance_cents"`
	}
	err := a.call(ctx, "read the merchant's balance", "payments", "/merchant", http.StatusOK, &m)
	return m.BalanceCents, err
}

// AwaitReady waits until every app's /readyz answers 200: the launcher
// waits on /healthz (alive), as daprd's app health check does; ready also
// means each app's own start-up work (the catalog's seed) is done.
func (a *Apps) AwaitReady(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for id := range a.Base {
		for {
			resp, err := send(ctx, a.HTTP, a.Base[id]+"/readyz", Request{Method: http.MethodGet})
			if err == nil && resp.Status == http.StatusOK {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s not ready after %s: %v %d %s", id, within, err, resp.Status, resp.Body)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}
