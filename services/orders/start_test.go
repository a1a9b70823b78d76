package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
)

// How a checkout's saga is started: what a failed, a busy or an abandoned
// start leaves behind.

// A saga that may or may not have started keeps the key: a retry finds the
// same order id, never a second order.
func TestCheckoutThatFailsToStartKeepsTheKey(t *testing.T) {
	t.Parallel()
	h := newHarness()
	h.checkouts.err = apperr.Wrap(apperr.Unavailable, errors.New("deadline exceeded"), "workflow engine unavailable")
	w := h.place(adaID, "k1", oneLine)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	assert.Empty(t, h.store.orders())

	h.checkouts.mu.Lock()
	h.checkouts.err = nil
	h.checkouts.mu.Unlock()
	assert.Equal(t, http.StatusConflict, h.place(adaID, "k1", oneLine).Code, "within the lease: in flight")
	h.clock.Add(inFlightLease)
	w = h.place(adaID, "k1", oneLine)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), "00000000-0000-4000-8000-000000000001", "the id the key was given first")
	assert.Len(t, h.store.orders(), 1)
	require.NotEmpty(t, h.checkouts.news)
	assert.False(t, h.checkouts.news[len(h.checkouts.news)-1], "a take-over looks for the first request's saga")
}

// A new key, by far the most common request, is claimed by an insert
// without a read first, and its saga is started without a look for an
// earlier one; a retry of the same key reads its claim.
func TestNewKeyIsClaimedWithoutAReadAndStartedWithoutALook(t *testing.T) {
	t.Parallel()
	h := newHarness()
	w := h.place(adaID, "k1", oneLine)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	assert.Zero(t, h.store.reads.Load(), "claim reads")
	assert.Equal(t, []bool{true}, h.checkouts.news)

	again := h.place(adaID, "k1", oneLine)
	require.Equal(t, http.StatusAccepted, again.Code, again.Body.String())
	assert.Equal(t, w.Body.String(), again.Body.String(), "the same response")
	assert.Equal(t, int64(1), h.store.reads.Load(), "the retry read the claim")
	assert.Equal(t, []bool{true}, h.checkouts.news, "and started nothing")
}

// A client that leaves while its checkout starts (a gateway timing out
// under load) does not cancel the start or the save: its retry gets the
// order at once, instead of waiting out the key's lease.
func TestClientGoneWhileTheSagaStartsStillMakesTheOrder(t *testing.T) {
	t.Parallel()
	h := newHarness()
	ctx, leave := context.WithCancel(context.Background())
	var startErr error
	h.checkouts.onStart = func(c context.Context) {
		leave()
		startErr = c.Err()
	}
	h.doWithin(ctx, http.MethodPost, "/users/"+adaID+"/orders", "k1", oneLine)

	require.NoError(t, startErr, "the start saw the client's cancel")
	h.checkouts.onStart = nil
	assertRetryFindsTheOrder(t, h)
}

// assertRetryFindsTheOrder: the order of key k1 was saved once, and a
// retry gets it at once.
func assertRetryFindsTheOrder(t *testing.T, h *harness) {
	t.Helper()
	require.Len(t, h.store.orders(), 1, "the order was saved")
	again := h.place(adaID, "k1", oneLine)
	require.Equal(t, http.StatusAccepted, again.Code, again.Body.String())
	assert.Contains(t, again.Body.String(), "00000000-0000-4000-8000-000000000001")
}

// A client gone once the key is claimed: the claim is not left in flight
// for its lease, the order is placed.
func TestClientGoneAfterTheClaimStillMakesTheOrder(t *testing.T) {
	t.Parallel()
	h := newHarness()
	ctx, leave := context.WithCancel(context.Background())
	h.store.onPut = leave
	var startErr error
	h.checkouts.onStart = func(c context.Context) { startErr = c.Err() }
	h.doWithin(ctx, http.MethodPost, "/users/"+adaID+"/orders", "k1", oneLine)

	h.store.onPut, h.checkouts.onStart = nil, nil
	require.NoError(t, startErr, "the start saw the client's cancel")
	require.Len(t, h.checkouts.started, 1, "the saga was started")
	assertRetryFindsTheOrder(t, h)
}

// A workflow engine busy for a moment (its store locked by a burst of
// checkouts) is waited for: the checkout is accepted at the first request.
func TestCheckoutStartRetriedWhileTheEngineIsBusy(t *testing.T) {
	t.Parallel()
	h := newHarness()
	h.checkouts.busy = startAttempts - 1
	w := h.place(adaID, "k1", oneLine)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	assert.Equal(t, startAttempts, h.checkouts.starts)
	assert.Equal(t, []bool{true, false, false, false}, h.checkouts.news, "a retried start may find the first one's saga")
	assert.Len(t, h.checkouts.started, 1)
	assert.Len(t, h.store.orders(), 1)
}

// The saga is the one creator of the order: the request that placed it
// only claims its key and starts the saga, which saves the order, its index
// entry and the claim completed with the very bytes of the 202, once.
func TestTheSagaIsTheOneCreatorOfTheOrder(t *testing.T) {
	t.Parallel()
	h := newHarness()
	w := h.place(adaID, "k1", oneLine)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	assert.Equal(t, int64(1), h.store.creates.Load(), "one write of the order")
	id := "00000000-0000-4000-8000-000000000001"
	require.Contains(t, h.store.orders(), id)
	c, _, err := h.store.Claim(context.Background(), adaID, "k1")
	require.NoError(t, err)
	assert.True(t, c.Done)
	assert.Equal(t, strings.TrimSpace(w.Body.String()), string(c.Response), "the claim answers a retry with the 202's bytes")
	again := h.place(adaID, "k1", oneLine)
	require.Equal(t, http.StatusAccepted, again.Code, again.Body.String())
	assert.Equal(t, w.Body.String(), again.Body.String())
	assert.Equal(t, int64(1), h.store.creates.Load())
}

// Between the 202 and the saga's save, the order is read from the saga's
// input: a client that reads its order at once finds it, pending; another
// user does not; a retry of the key gets the same 202.
func TestOrderReadableBeforeTheSagaSavesIt(t *testing.T) {
	t.Parallel()
	h := newHarness()
	h.checkouts.hold = true
	w := h.place(adaID, "k1", oneLine)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	require.Empty(t, h.store.orders(), "not saved yet")
	id := "00000000-0000-4000-8000-000000000001"

	got := h.do(http.MethodGet, "/users/"+adaID+"/orders/"+id, "", "")
	require.Equal(t, http.StatusOK, got.Code, got.Body.String())
	assert.Equal(t, w.Body.String(), got.Body.String(), "the order as placed")
	other := h.do(http.MethodGet, "/users/"+bobID+"/orders/"+id, "", "")
	assert.Equal(t, http.StatusNotFound, other.Code, other.Body.String())
	missing := h.do(http.MethodGet, "/users/"+adaID+"/orders/00000000-0000-4000-8000-000000000099", "", "")
	assert.Equal(t, http.StatusNotFound, missing.Code, missing.Body.String())
	again := h.place(adaID, "k1", oneLine)
	require.Equal(t, http.StatusAccepted, again.Code, again.Body.String())
	assert.Equal(t, w.Body.String(), again.Body.String(), "a retry: the same bytes")
	assert.Equal(t, http.StatusUnprocessableEntity, h.place(adaID, "k1", `{"items":[{"product_id":"pour-over-kettle","quantity":1}]}`).Code, "another body with the key")
}

// A pending order shows the steps its saga has taken so far (the saga's
// progress: the order is written with its steps at its end); a finished one
// is read from the store alone.
func TestPendingOrderShowsItsSagasSteps(t *testing.T) {
	t.Parallel()
	h := newHarness()
	require.Equal(t, http.StatusAccepted, h.place(adaID, "k1", oneLine).Code)
	id := "00000000-0000-4000-8000-000000000001"
	reserved := Step{Name: "reserve", Status: "done", At: h.clock.Now()}
	h.checkouts.progress[id] = []Step{reserved}
	looks := h.checkouts.looks

	var got Order
	w := h.do(http.MethodGet, "/users/"+adaID+"/orders/"+id, "", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	assert.Equal(t, []Step{reserved}, got.Steps)
	assert.Equal(t, looks+1, h.checkouts.looks, "one look at the saga")

	other := h.do(http.MethodGet, "/users/"+bobID+"/orders/"+id, "", "")
	assert.Equal(t, http.StatusNotFound, other.Code)
	assert.Equal(t, looks+1, h.checkouts.looks, "another user's order costs no look at its saga")

	_, err := h.store.Update(context.Background(), id, func(o *Order) error {
		o.Status, o.Steps = StatusCompleted, []Step{reserved, {Name: "charge", Status: "done"}, {Name: "confirm", Status: "done"}}
		return nil
	})
	require.NoError(t, err)
	w = h.do(http.MethodGet, "/users/"+adaID+"/orders/"+id, "", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	assert.Len(t, got.Steps, 3)
	assert.Equal(t, looks+1, h.checkouts.looks, "a finished order is the store's alone")

	h.checkouts.mu.Lock()
	h.checkouts.err = apperr.E(apperr.Unavailable, "the workflow engine is busy")
	h.checkouts.mu.Unlock()
	_, err = h.store.Update(context.Background(), id, func(o *Order) error { o.Status = StatusPending; return nil })
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, h.do(http.MethodGet, "/users/"+adaID+"/orders/"+id, "", "").Code,
		"steps that cannot be read are a 503, not a silent empty list")
}
