package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/sidecar"
	"github.com/daprshop/daprshop/internal/web"
)

// daprCatalog prices products by HTTP service invocation of the catalog app.
type daprCatalog struct {
	iv    *invoker
	appID string
}

func newDaprCatalog(sc sidecar.Config, appID string, client *http.Client) *daprCatalog {
	return &daprCatalog{iv: newInvoker(sc, client), appID: appID}
}

func (c *daprCatalog) Product(ctx context.Context, id string) (product, error) {
	r, err := c.iv.call(ctx, http.MethodGet, c.appID, "/products/"+url.PathEscape(id), nil)
	switch {
	case err != nil:
		return product{}, err
	case r.status == http.StatusOK:
		var p product
		if err := json.Unmarshal(r.body, &p); err != nil {
			return product{}, apperr.Wrap(apperr.Unavailable, err, "the catalog answered something unreadable")
		}
		return p, nil
	case r.status == http.StatusNotFound:
		// The catalog's own 404 (a problem); a 404 from daprd (no such
		// app) is an error of call.
		return product{}, apperr.E(apperr.NotFound, "no product %s", id)
	default:
		return product{}, apperr.E(apperr.Unavailable, "the catalog answered %d; try again later", r.status)
	}
}

// invoker calls other apps by HTTP service invocation through this app's
// own sidecar (the dapr-app-id header).
type invoker struct {
	base   string
	token  string
	client *http.Client
}

func newInvoker(sc sidecar.Config, client *http.Client) *invoker {
	return &invoker{base: sc.HTTPBase(), token: sc.APIToken, client: client}
}

// reply is what an app answered: its status, its body, and the detail of
// a problem.
type reply struct {
	status int
	body   []byte
	detail string
}

// call sends body (none when nil) as JSON to appID at path. A failure to get
// an answer from the app itself (network, sidecar, access control, a 5xx)
// is an apperr.Unavailable; an answer of the app, 4xx included, is returned.
func (iv *invoker) call(ctx context.Context, method, appID, path string, body any) (reply, error) {
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, iv.base+path, in)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("dapr-app-id", appID)
	if iv.token != "" {
		req.Header.Set(sidecar.TokenHeader, iv.token)
	}
	resp, err := iv.client.Do(req)
	if err != nil {
		return reply{}, apperr.Wrap(apperr.Unavailable, err, "%s could not be reached; try again later", appID)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return reply{}, apperr.Wrap(apperr.Unavailable, err, "%s's answer was cut off; try again later", appID)
	}
	isProblem := strings.HasPrefix(resp.Header.Get("Content-Type"), web.ProblemContentType)
	switch {
	case resp.StatusCode < 300:
		return reply{status: resp.StatusCode, body: raw}, nil
	case resp.StatusCode >= 500 || !isProblem:
		return reply{}, apperr.Wrap(apperr.Unavailable, fmt.Errorf("%s %s answered %d: %.200s", method, path, resp.StatusCode, raw),
			"%s is unavailable; try again later", appID)
	}
	var p web.Problem
	if err := json.Unmarshal(raw, &p); err != nil {
		return reply{}, apperr.Wrap(apperr.Unavailable, err, "%s answered an unreadable problem", appID)
	}
	return reply{status: resp.StatusCode, body: raw, detail: p.Detail}, nil
}

// post sends body as JSON to appID at path (see call).
func (iv *invoker) post(ctx context.Context, appID, path string, body any) (reply, error) {
	return iv.call(ctx, http.MethodPost, appID, path, body)
}

var _ participants = (*daprParticipants)(nil)

// daprParticipants are the catalog (TCC reservations) and payments
// (charge, refund), each idempotent per order behind its barrier.
type daprParticipants struct {
	iv                      *invoker
	catalogApp, paymentsApp string
}

type reserveBody struct {
	Items []line `json:"items"`
}

func (p *daprParticipants) Reserve(ctx context.Context, orderID string, items []Item) (refusal, error) {
	body := reserveBody{Items: make([]line, len(items))}
	for i, it := range items {
		body.Items[i] = line{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	a, err := p.iv.post(ctx, p.catalogApp, "/reservations/"+orderID+"/try", body)
	return refused(a, err, "") // the catalog says what is missing: "not enough stock of ..."
}

// settleBody is the body of a confirm or a cancel: the order's products,
// which the catalog reads with the reservation.
type settleBody struct {
	Products []string `json:"products"`
}

func settleBodyOf(items []Item) settleBody {
	b := settleBody{Products: make([]string, len(items))}
	for i, it := range items {
		b.Products[i] = it.ProductID
	}
	return b
}

func (p *daprParticipants) Confirm(ctx context.Context, orderID string, items []Item) (refusal, error) {
	a, err := p.iv.post(ctx, p.catalogApp, "/reservations/"+orderID+"/confirm", settleBodyOf(items))
	if err == nil && a.status == http.StatusConflict {
		return refusal{Refused: true, Reason: "the stock reservation expired before the payment completed; the payment was refunded"}, nil
	}
	return refused(a, err, "")
}

func (p *daprParticipants) Release(ctx context.Context, orderID string, items []Item) error {
	return final(p.iv.post(ctx, p.catalogApp, "/reservations/"+orderID+"/cancel", settleBodyOf(items)))
}

type chargeBody struct {
	UserID      string `json:"user_id"`
	AmountCents int64  `json:"amount_cents"`
}

func (p *daprParticipants) Charge(ctx context.Context, orderID, userID string, amountCents int64) (refusal, error) {
	a, err := p.iv.post(ctx, p.paymentsApp, "/charges/"+orderID, chargeBody{UserID: userID, AmountCents: amountCents})
	return refused(a, err, "payment ") // payments says "declined: ..."
}

func (p *daprParticipants) Refund(ctx context.Context, orderID string) error {
	return final(p.iv.post(ctx, p.paymentsApp, "/charges/"+orderID+"/refund", struct{}{}))
}

// refused turns a participant's 4xx into a refusal with a reason for the
// customer.
func refused(a reply, err error, prefix string) (refusal, error) {
	if err != nil {
		return refusal{}, err
	}
	if a.status >= 400 {
		return refusal{Refused: true, Reason: prefix + a.detail}, nil
	}
	return refusal{}, nil
}

// final accepts a compensation's answer: success, or a 4xx that no retry
// can change (it is recorded in the log by the participant).
func final(a reply, err error) error {
	if err != nil {
		return err
	}
	if a.status >= 400 {
		return fmt.Errorf("%w: compensation refused (%d): %s", errPermanent, a.status, a.detail)
	}
	return nil
}

// errPermanent marks a compensation a participant refuses for good.
var errPermanent = errors.New("permanent")

var _ publisher = (*daprPublisher)(nil)
