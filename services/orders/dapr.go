package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dapr/durabletask-go/api"
	"github.com/dapr/durabletask-go/workflow"
	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/barrier"
	"github.com/daprshop/daprshop/internal/sidecar"
	"github.com/daprshop/daprshop/internal/web"
)

var (
	_ orderStore = (*daprOrderStore)(nil)
	_ catalog    = (*daprCatalog)(nil)
)

// daprOrderStore keeps orders in a Dapr state store: one record per order,
// one index per user, one claim per (user, idempotency key).
type daprOrderStore struct {
	client dapr.Client
	store  string
}

func newDaprOrderStore(client dapr.Client, store string) *daprOrderStore {
	return &daprOrderStore{client: client, store: store}
}

var jsonMeta = map[string]string{"contentType": "application/json"}

// claimTTL is how long a finished claim answers retries; after it the key
// may be used again. A day, like the payment APIs clients know.
const claimTTL = "86400"

func orderKey(id string) string      { return "order-" + id }
func indexRecord(user string) string { return "orders-of-" + user }

// claimKey hashes the client's key, so that keys have one length and
// charset whatever the client sends.
func claimKey(user, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "idem-" + user + "-" + hex.EncodeToString(sum[:])
}

// userIndex lists a user's orders by index key, sorted.
type userIndex struct {
	Keys []string `json:"keys"`
}

func (s *daprOrderStore) Claim(ctx context.Context, userID, key string) (claim, string, error) {
	item, err := s.client.GetState(ctx, s.store, claimKey(userID, key), nil)
	if err != nil {
		return claim{}, "", sidecar.Err(err, "read idempotency claim")
	}
	if item == nil || len(item.Value) == 0 {
		return claim{}, "", apperr.E(apperr.NotFound, "no claim")
	}
	var c claim
	if err := json.Unmarshal(item.Value, &c); err != nil {
		return claim{}, "", fmt.Errorf("decode idempotency claim: %w", err)
	}
	return c, item.Etag, nil
}

func (s *daprOrderStore) PutClaim(ctx context.Context, userID, key string, c claim, version string) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	meta := map[string]string{"contentType": "application/json", "ttlInSeconds": claimTTL}
	if version == "" {
		err = s.client.SaveState(ctx, s.store, claimKey(userID, key), b, meta, dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite))
	} else {
		err = s.client.SaveStateWithETag(ctx, s.store, claimKey(userID, key), b, version, meta, dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite))
	}
	if sidecar.IsETagMismatch(err) {
		return apperr.Wrap(apperr.Conflict, err, "the idempotency key changed meanwhile")
	}
	return sidecar.Err(err, "save idempotency claim")
}

func (s *daprOrderStore) DeleteClaim(ctx context.Context, userID, key, version string) error {
	err := s.client.DeleteStateWithETag(ctx, s.store, claimKey(userID, key), &dapr.ETag{Value: version}, nil,
		&dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite})
	if sidecar.IsETagMismatch(err) {
		return nil // changed meanwhile: it is someone else's now
	}
	return sidecar.Err(err, "delete idempotency claim")
}

// maxIndexAttempts bounds the retries of a transaction whose user index
// changed under it (the same user placing orders at once). Between tries
// the loser pauses as the barrier does (barrier.Backoff: jittered, so that
// racers fall out of step); without a pause, six orders of one user at
// once on a loaded machine could lose five times in a row (seen here).
const maxIndexAttempts = 16

// Create writes the order insert-only, the done claim and the user's index
// (guarded by its ETag) in one transaction. When the transaction fails on an
// ETag, either the order exists already (Conflict) or the index moved, and
// the transaction is tried again on the fresh index.
func (s *daprOrderStore) Create(ctx context.Context, o Order, key string, done claim) error {
	order, err := json.Marshal(o)
	if err != nil {
		return err
	}
	claimed, err := json.Marshal(done)
	if err != nil {
		return err
	}
	for attempt := range maxIndexAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return sidecar.Err(ctx.Err(), "save order")
			case <-time.After(barrier.Backoff(attempt)):
			}
		}
		item, err := s.client.GetState(ctx, s.store, indexRecord(o.UserID), nil)
		if err != nil {
			return sidecar.Err(err, "read order index")
		}
		var idx userIndex
		if item != nil && len(item.Value) > 0 {
			if err := json.Unmarshal(item.Value, &idx); err != nil {
				return fmt.Errorf("decode order index of %s: %w", o.UserID, err)
			}
		}
		k := indexKey(o)
		if i, found := slices.BinarySearch(idx.Keys, k); !found {
			idx.Keys = slices.Insert(idx.Keys, i, k)
		}
		index, err := json.Marshal(idx)
		if err != nil {
			return err
		}
		// No contentType on a transaction's writes: one state store then
		// needs a server module it may not have (docs/dapr-notes.md).
		indexItem := &dapr.SetStateItem{Key: indexRecord(o.UserID), Value: index,
			Options: &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite}}
		if item != nil && item.Etag != "" {
			indexItem.Etag = &dapr.ETag{Value: item.Etag}
		}
		ops := []*dapr.StateOperation{
			{Type: dapr.StateOperationTypeUpsert, Item: &dapr.SetStateItem{
				Key: orderKey(o.ID), Value: order,
				Options: &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite},
			}},
			{Type: dapr.StateOperationTypeUpsert, Item: indexItem},
		}
		if key != "" {
			// The claim is replaced at the version it has now: a store may
			// refuse an unconditional write over a record written
			// first-write (one does: docs/dapr-notes.md), and a claim that
			// changed since fails the transaction, which then finds out why.
			current, err := s.client.GetState(ctx, s.store, claimKey(o.UserID, key), nil)
			if err != nil {
				return sidecar.Err(err, "read idempotency claim")
			}
			claimItem := &dapr.SetStateItem{
				Key: claimKey(o.UserID, key), Value: claimed,
				Metadata: map[string]string{"ttlInSeconds": claimTTL},
				Options:  &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite},
			}
			if current != nil && current.Etag != "" {
				claimItem.Etag = &dapr.ETag{Value: current.Etag}
			}
			ops = append(ops, &dapr.StateOperation{Type: dapr.StateOperationTypeUpsert, Item: claimItem})
		}
		err = s.client.ExecuteStateTransaction(ctx, s.store, nil, ops)
		if err == nil {
			return nil
		}
		// Rolled back whole to break a lock conflict: nothing applied, so
		// it is tried again like a lost ETag race.
		if !sidecar.LostRace(err) {
			return sidecar.Err(err, "save order")
		}
		if _, err := s.Order(ctx, o.ID); err == nil {
			return apperr.E(apperr.Conflict, "order %s exists already", o.ID)
		} else if !apperr.Is(err, apperr.NotFound) {
			return err
		}
	}
	return apperr.E(apperr.Conflict, "too many orders at once for this user; try again")
}

// maxUpdateAttempts bounds the retries of an order update that lost a race.
const maxUpdateAttempts = 8

// Update reads the order with its ETag, applies change and saves it under
// that ETag, again on the fresh order when another write came in between.
func (s *daprOrderStore) Update(ctx context.Context, id string, change func(*Order) error) (Order, error) {
	for range maxUpdateAttempts {
		item, err := s.client.GetState(ctx, s.store, orderKey(id), nil)
		if err != nil {
			return Order{}, sidecar.Err(err, "read order")
		}
		if item == nil || len(item.Value) == 0 {
			return Order{}, apperr.E(apperr.NotFound, "order %s not found", id)
		}
		var o Order
		if err := json.Unmarshal(item.Value, &o); err != nil {
			return Order{}, fmt.Errorf("decode order %s: %w", id, err)
		}
		if err := change(&o); err != nil {
			return Order{}, err
		}
		b, err := json.Marshal(o)
		if err != nil {
			return Order{}, err
		}
		err = s.client.SaveStateWithETag(ctx, s.store, orderKey(id), b, item.Etag, jsonMeta, dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite))
		if err == nil {
			return o, nil
		}
		if !sidecar.LostRace(err) {
			return Order{}, sidecar.Err(err, "save order")
		}
	}
	return Order{}, apperr.E(apperr.Conflict, "order %s changed too often meanwhile; try again", id)
}

func (s *daprOrderStore) Order(ctx context.Context, id string) (Order, error) {
	item, err := s.client.GetState(ctx, s.store, orderKey(id), nil)
	if err != nil {
		return Order{}, sidecar.Err(err, "read order")
	}
	if item == nil || len(item.Value) == 0 {
		return Order{}, apperr.E(apperr.NotFound, "order %s not found", id)
	}
	var o Order
	if err := json.Unmarshal(item.Value, &o); err != nil {
		return Order{}, fmt.Errorf("decode order %s: %w", id, err)
	}
	return o, nil
}

func (s *daprOrderStore) Index(ctx context.Context, userID string) ([]string, error) {
	item, err := s.client.GetState(ctx, s.store, indexRecord(userID), nil)
	if err != nil {
		return nil, sidecar.Err(err, "read order index")
	}
	var idx userIndex
	if item != nil && len(item.Value) > 0 {
		if err := json.Unmarshal(item.Value, &idx); err != nil {
			return nil, fmt.Errorf("decode order index of %s: %w", userID, err)
		}
	}
	return idx.Keys, nil
}

func (s *daprOrderStore) Orders(ctx context.Context, ids []string) ([]Order, error) {
	if len(ids) == 0 {
		return []Order{}, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = orderKey(id)
	}
	items, err := s.client.GetBulkState(ctx, s.store, keys, nil, 0)
	if err != nil {
		return nil, sidecar.Err(err, "read orders")
	}
	byKey := make(map[string]*dapr.BulkStateItem, len(items))
	for _, it := range items {
		byKey[it.Key] = it
	}
	orders := make([]Order, 0, len(ids))
	for _, k := range keys {
		it := byKey[k]
		if it == nil || len(it.Value) == 0 {
			continue
		}
		if it.Error != "" {
			return nil, apperr.E(apperr.Unavailable, "read order %s: %s", strings.TrimPrefix(k, "order-"), it.Error)
		}
		var o Order
		if err := json.Unmarshal(it.Value, &o); err != nil {
			return nil, fmt.Errorf("decode %s: %w", k, err)
		}
		orders = append(orders, o)
	}
	return orders, nil
}

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

func (p *daprParticipants) Confirm(ctx context.Context, orderID string) (refusal, error) {
	a, err := p.iv.post(ctx, p.catalogApp, "/reservations/"+orderID+"/confirm", struct{}{})
	if err == nil && a.status == http.StatusConflict {
		return refusal{Refused: true, Reason: "the stock reservation expired before the payment completed; the payment was refunded"}, nil
	}
	return refused(a, err, "")
}

func (p *daprParticipants) Release(ctx context.Context, orderID string) error {
	return final(p.iv.post(ctx, p.catalogApp, "/reservations/"+orderID+"/cancel", struct{}{}))
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

// daprPublisher publishes CloudEvents with ids of our choosing through the
// sidecar: the envelope is ours (content type application/cloudevents+json)
// so daprd keeps its id.
type daprPublisher struct {
	client dapr.Client
	pubsub string
	source string
}

func (p *daprPublisher) Publish(ctx context.Context, topic, eventID string, data any) error {
	ev := map[string]any{
		"specversion":     "1.0",
		"id":              eventID,
		"source":          p.source,
		"type":            "com.daprshop." + topic,
		"datacontenttype": "application/json",
		"data":            data,
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	err = p.client.PublishEvent(ctx, p.pubsub, topic, b, dapr.PublishEventWithContentType("application/cloudevents+json"))
	return sidecar.Err(err, "publish %s", topic)
}

var _ checkouts = (*daprCheckouts)(nil)

// daprCheckouts starts and cancels checkout sagas on Dapr Workflow.
type daprCheckouts struct {
	wf      *workflow.Client
	tracker *sagaTracker
}

// Start schedules the order's saga unless it exists: an instance that ran
// before would otherwise be started over. One that exists but has not begun
// (pending) is woken. daprd 1.18.2 creates an instance's start reminder
// before it saves the instance: when the save outlasts the caller's
// deadline (a busy store) and lands afterwards, the reminder may already
// have fired, found nothing ("No workflow state found ..., terminating
// execution") and been deleted, and the saved instance then waits for a
// reminder that is gone. The retry that finds it here raises an event that
// the saga ignores: daprd saves it and sets a reminder of its own, which
// runs the instance from its inbox, start included. For an instance whose
// reminder is only late, it is one more event in its history.
func (c *daprCheckouts) Start(ctx context.Context, o Order) error {
	meta, err := c.wf.FetchWorkflowMetadata(ctx, o.ID)
	switch {
	case err == nil && meta.RuntimeStatus == workflow.StatusPending:
		return sidecar.Err(c.wf.RaiseEvent(ctx, o.ID, wakeEvent), "wake checkout")
	case err == nil:
		return nil
	case errors.Is(err, api.ErrInstanceNotFound) || status.Code(errors.Unwrap(err)) == codes.NotFound:
	default:
		return sidecar.Err(errors.Unwrap(err), "read checkout")
	}
	_, err = c.wf.ScheduleWorkflow(ctx, checkoutWorkflow, workflow.WithInstanceID(o.ID), workflow.WithInput(o))
	if status.Code(errors.Unwrap(err)) == codes.AlreadyExists || status.Code(err) == codes.AlreadyExists {
		return nil // started by a concurrent request a moment ago
	}
	if err != nil {
		return sidecar.Err(err, "start checkout")
	}
	c.tracker.started(o)
	return nil
}

// Cancel raises the cancel event the saga looks for between its steps.
func (c *daprCheckouts) Cancel(ctx context.Context, orderID string) error {
	err := c.wf.RaiseEvent(ctx, orderID, cancelEvent)
	return sidecar.Err(err, "cancel checkout")
}
