package main

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dapr/durabletask-go/api"
	"github.com/dapr/durabletask-go/api/protos"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
)

// activityCtx is an activity's context carrying an input, as the workflow
// runtime would pass it.
type activityCtx struct{ input []byte }

func (a activityCtx) GetInput(v any) error                       { return json.Unmarshal(a.input, v) }
func (activityCtx) GetTaskID() int32                             { return 1 }
func (activityCtx) GetTaskExecutionID() string                   { return "exec-1" }
func (activityCtx) Context() context.Context                     { return context.Background() }
func (activityCtx) GetTraceContext() *protos.TraceContext        { return nil }
func (activityCtx) GetPropagatedHistory() *api.PropagatedHistory { return nil }
func input(t *testing.T, v any) activityCtx {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return activityCtx{input: b}
}

// fakeParticipants answers each step with what the test set.
type fakeParticipants struct {
	refuse map[string]string // step → reason
	fail   map[string]error  // step → error
	calls  map[string]int
	mu     sync.Mutex
}

func (p *fakeParticipants) answer(step string) (refusal, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[step]++
	if err := p.fail[step]; err != nil {
		return refusal{}, err
	}
	if reason, ok := p.refuse[step]; ok {
		return refusal{Refused: true, Reason: reason}, nil
	}
	return refusal{}, nil
}

func (p *fakeParticipants) Reserve(context.Context, string, []Item) (refusal, error) {
	return p.answer("reserve")
}
func (p *fakeParticipants) Confirm(context.Context, string) (refusal, error) {
	return p.answer("confirm")
}
func (p *fakeParticipants) Release(context.Context, string) error {
	_, err := p.answer("release")
	return err
}
func (p *fakeParticipants) Charge(context.Context, string, string, int64) (refusal, error) {
	return p.answer("charge")
}
func (p *fakeParticipants) Refund(context.Context, string) error {
	_, err := p.answer("refund")
	return err
}

type published struct{ topic, id string }

type fakePublisher struct {
	mu   sync.Mutex
	sent []published
	err  error
}

func (p *fakePublisher) Publish(_ context.Context, topic, id string, _ any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.sent = append(p.sent, published{topic, id})
	return nil
}

func newSaga(t *testing.T) (*saga, *fakeOrderStore, *fakeParticipants, *fakePublisher, Order) {
	t.Helper()
	store, parts, pub := newFakeOrderStore(), &fakeParticipants{refuse: map[string]string{}, fail: map[string]error{}, calls: map[string]int{}}, &fakePublisher{}
	o := Order{ID: "5f1e2d3c-4b5a-4697-8877-665544332211", UserID: adaID, Status: StatusPending, TotalCents: 4900,
		Items: []Item{{ProductID: "espresso-beans-1kg", Quantity: 2, PriceCents: 2450}}, Steps: []Step{}}
	now := func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }
	s := &saga{store: store, parts: parts, events: pub, now: now, tracker: newSagaTracker(now)}
	_, err := s.saveOrder(input(t, o))
	require.NoError(t, err)
	_, err = s.saveOrder(input(t, o))
	require.NoError(t, err, "saving twice is no error")
	return s, store, parts, pub, o
}

func TestSagaActivitiesRecordEachStepOnce(t *testing.T) {
	t.Parallel()
	s, store, parts, _, o := newSaga(t)
	for range 2 { // an activity run twice
		_, err := s.reserve(input(t, o))
		require.NoError(t, err)
	}
	parts.refuse["charge"] = "declined: the wallet's balance is below the amount"
	r, err := s.charge(input(t, o))
	require.NoError(t, err)
	assert.Equal(t, outcome{refusal: refusal{Refused: true, Reason: "declined: the wallet's balance is below the amount"}}, r)

	got, err := store.Order(context.Background(), o.ID)
	require.NoError(t, err)
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	assert.Equal(t, []Step{
		{Name: "reserve", Status: "done", At: at},
		{Name: "charge", Status: "failed", Detail: "declined: the wallet's balance is below the amount", At: at},
	}, got.Steps)
	assert.Equal(t, 2, parts.calls["reserve"], "the participant's barrier makes the repeat harmless")
}

func TestSagaActivityErrors(t *testing.T) {
	t.Parallel()
	s, store, parts, _, o := newSaga(t)
	parts.fail["charge"] = apperr.E(apperr.Unavailable, "payments answered 500")
	_, err := s.charge(input(t, o))
	assert.Error(t, err, "a transient failure is an error: the workflow retries the activity")

	parts.fail["release"] = errors.Join(errPermanent, errors.New("stock sold already"))
	_, err = s.release(input(t, o))
	assert.NoError(t, err, "a compensation refused for good is recorded, not retried")
	got, err := store.Order(context.Background(), o.ID)
	require.NoError(t, err)
	require.Len(t, got.Steps, 1)
	assert.Equal(t, "release", got.Steps[0].Name)
	assert.Equal(t, "failed", got.Steps[0].Status)
}

func TestSagaFinishSetsTheStatusOnceAndPublishesOneEvent(t *testing.T) {
	t.Parallel()
	s, store, _, pub, o := newSaga(t)
	in := finishInput{OrderID: o.ID, Status: StatusCancelled, Reason: "cancelled at your request"}
	for range 2 {
		_, err := s.finish(input(t, in))
		require.NoError(t, err)
	}
	_, err := s.finish(input(t, finishInput{OrderID: o.ID, Status: StatusCompleted}))
	require.NoError(t, err)
	got, err := store.Order(context.Background(), o.ID)
	require.NoError(t, err)
	assert.Equal(t, StatusCancelled, got.Status, "a final status never changes")
	assert.Equal(t, "cancelled at your request", got.Reason)
	require.NotNil(t, got.UpdatedAt)
	for _, p := range pub.sent {
		assert.Equal(t, published{topicCancelled, topicCancelled + "-" + o.ID}, p, "the same event each time")
	}

	pub.err = errors.New("broker down")
	_, err = s.finish(input(t, in))
	assert.Error(t, err, "a failed publish fails the activity, which is retried")
}

// A confirm that the catalog took while the order could not be written is
// done, not failed: were it failed, the saga would compensate a sale (stock
// sold, money refunded). FinishOrder records the step with the order's end.
func TestSagaStepDoneButUnrecordedIsRecordedAtTheEnd(t *testing.T) {
	t.Parallel()
	s, store, parts, _, o := newSaga(t)
	store.err = apperr.E(apperr.Unavailable, "the store is busy")
	r, err := s.confirm(input(t, o))
	require.NoError(t, err, "the participant answered: nothing to retry, nothing to compensate")
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	want := Step{Name: "confirm", Status: "done", At: at}
	assert.Equal(t, outcome{Unrecorded: &want}, r)
	assert.Equal(t, 1, parts.calls["confirm"])

	_, err = s.finish(input(t, finishInput{OrderID: o.ID, Status: StatusCompleted, Steps: []Step{want}}))
	require.Error(t, err, "FinishOrder fails while the store does, and is retried")
	store.err = nil
	for range 2 {
		_, err = s.finish(input(t, finishInput{OrderID: o.ID, Status: StatusCompleted, Steps: []Step{want}}))
		require.NoError(t, err)
	}
	got, err := store.Order(context.Background(), o.ID)
	require.NoError(t, err)
	assert.Equal(t, StatusCompleted, got.Status)
	assert.Equal(t, []Step{want}, got.Steps, "recorded once")
}
