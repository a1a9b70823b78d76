package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
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
func (p *fakeParticipants) Confirm(context.Context, string, []Item) (refusal, error) {
	return p.answer("confirm")
}
func (p *fakeParticipants) Release(context.Context, string, []Item) error {
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

func newSaga(t *testing.T) (*saga, *memOrders, *fakeParticipants, *fakePublisher, Order) {
	t.Helper()
	store, parts, pub := newMemOrders(), &fakeParticipants{refuse: map[string]string{}, fail: map[string]error{}, calls: map[string]int{}}, &fakePublisher{}
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

// An activity returns its step and writes nothing: the saga keeps the
// steps and FinishOrder writes them. Run twice, it asks the participant
// twice (whose barrier makes the repeat harmless).
func TestSagaActivitiesReturnTheirStepAndWriteNothing(t *testing.T) {
	t.Parallel()
	s, store, parts, _, o := newSaga(t)
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for range 2 { // an activity run twice
		r, err := s.reserve(input(t, o))
		require.NoError(t, err)
		assert.Equal(t, outcome{Step: &Step{Name: "reserve", Status: "done", At: at}}, r)
	}
	parts.refuse["charge"] = "declined: the wallet's balance is below the amount"
	r, err := s.charge(input(t, o))
	require.NoError(t, err)
	assert.Equal(t, outcome{
		refusal: refusal{Refused: true, Reason: "declined: the wallet's balance is below the amount"},
		Step:    &Step{Name: "charge", Status: "failed", Detail: "declined: the wallet's balance is below the amount", At: at},
	}, r)

	got, err := store.Order(context.Background(), o.ID)
	require.NoError(t, err)
	assert.Empty(t, got.Steps, "nothing written on the order by a step")
	assert.Equal(t, 2, parts.calls["reserve"])
}

func TestSagaActivityErrors(t *testing.T) {
	t.Parallel()
	s, store, parts, _, o := newSaga(t)
	parts.fail["charge"] = apperr.E(apperr.Unavailable, "payments answered 500")
	_, err := s.charge(input(t, o))
	assert.Error(t, err, "a transient failure is an error: the workflow retries the activity")

	parts.fail["release"] = errors.Join(errPermanent, errors.New("stock sold already"))
	r, err := s.release(input(t, o))
	assert.NoError(t, err, "a compensation refused for good is recorded, not retried")
	require.NotNil(t, r.(outcome).Step)
	assert.Equal(t, "release", r.(outcome).Step.Name)
	assert.Equal(t, "failed", r.(outcome).Step.Status)
	store.mem.Fail(apperr.E(apperr.Unavailable, "the store is busy"))
	_, err = s.confirm(input(t, o))
	assert.NoError(t, err, "a step does not need the order's store")
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

// FinishOrder writes the saga's steps on the order with its end, once,
// and is retried while the store is down: a step done is never lost to a
// write that failed (before, a confirm whose write kept failing could be
// compensated: stock sold, money refunded).
func TestSagaStepsAreWrittenOnceByFinishOrder(t *testing.T) {
	t.Parallel()
	s, store, _, _, o := newSaga(t)
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	steps := []Step{{Name: "reserve", Status: "done", At: at}, {Name: "charge", Status: "done", At: at}, {Name: "confirm", Status: "done", At: at}}
	store.mem.Fail(apperr.E(apperr.Unavailable, "the store is busy"))
	_, err := s.finish(input(t, finishInput{OrderID: o.ID, Status: StatusCompleted, Steps: steps}))
	require.Error(t, err, "FinishOrder fails while the store does, and is retried")
	store.mem.Fail(nil)
	for range 2 {
		_, err = s.finish(input(t, finishInput{OrderID: o.ID, Status: StatusCompleted, Steps: steps}))
		require.NoError(t, err)
	}
	got, err := store.Order(context.Background(), o.ID)
	require.NoError(t, err)
	assert.Equal(t, StatusCompleted, got.Status)
	assert.Equal(t, steps, got.Steps, "recorded once")
}

// The confirm ends the saga it completes, in its own activity: the order
// completed with every step, order.completed published once, and the
// outcome says so, so that the saga runs no FinishOrder. Run again (an
// activity runs at least once), it changes nothing and publishes the same
// event.
func TestSagaConfirmEndsTheSagaItCompletes(t *testing.T) {
	t.Parallel()
	s, store, parts, pub, o := newSaga(t)
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	done := []Step{{Name: "reserve", Status: "done", At: at}, {Name: "charge", Status: "done", At: at}}
	for range 2 {
		r, err := s.confirm(input(t, confirmInput{Order: o, Ends: true, Done: done}))
		require.NoError(t, err)
		assert.Equal(t, outcome{Step: &Step{Name: "confirm", Status: "done", At: at}, Finished: true}, r)
	}
	got, err := store.Order(context.Background(), o.ID)
	require.NoError(t, err)
	assert.Equal(t, StatusCompleted, got.Status)
	assert.Equal(t, append(done, Step{Name: "confirm", Status: "done", At: at}), got.Steps, "every step, once")
	assert.Equal(t, []published{{topicCompleted, topicCompleted + "-" + o.ID}, {topicCompleted, topicCompleted + "-" + o.ID}}, pub.sent,
		"the same event each time")
	assert.Equal(t, 2, parts.calls["confirm"])
}

// A confirm whose end fails is still a confirm done: no error (a retry
// that gave up would compensate stock already sold), not finished, and
// the saga's FinishOrder then ends the order. A refused confirm, or the
// input of an instance begun before the confirm ended sagas (an order
// alone), ends nothing.
func TestSagaConfirmLeavesAnEndItCannotMakeToFinishOrder(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	done := []Step{{Name: "reserve", Status: "done", At: at}, {Name: "charge", Status: "done", At: at}}
	confirmed := Step{Name: "confirm", Status: "done", At: at}
	tests := []struct {
		name    string
		in      any
		breakIt func(*memOrders, *fakeParticipants, *fakePublisher)
		want    outcome
	}{
		{"the store fails", confirmInput{Ends: true, Done: done}, func(m *memOrders, _ *fakeParticipants, _ *fakePublisher) {
			m.mem.Fail(apperr.E(apperr.Unavailable, "the store is busy"))
		}, outcome{Step: &confirmed}},
		{"the broker fails", confirmInput{Ends: true, Done: done}, func(_ *memOrders, _ *fakeParticipants, p *fakePublisher) {
			p.err = errors.New("broker down")
		}, outcome{Step: &confirmed}},
		{"the confirm is refused", confirmInput{Ends: true, Done: done}, func(_ *memOrders, p *fakeParticipants, _ *fakePublisher) {
			p.refuse["confirm"] = "the reservation expired"
		}, outcome{refusal: refusal{Refused: true, Reason: "the reservation expired"},
			Step: &Step{Name: "confirm", Status: "failed", Detail: "the reservation expired", At: at}}},
		{"an order alone, as before", nil, func(*memOrders, *fakeParticipants, *fakePublisher) {}, outcome{Step: &confirmed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, store, parts, pub, o := newSaga(t)
			in := tt.in
			if ci, ok := in.(confirmInput); ok {
				ci.Order = o
				in = ci
			} else {
				in = o
			}
			tt.breakIt(store, parts, pub)
			r, err := s.confirm(input(t, in))
			require.NoError(t, err)
			assert.Equal(t, tt.want, r)
			assert.Empty(t, pub.sent, "no event yet")
			store.mem.Fail(nil)
			pub.err = nil
			if r.(outcome).Refused {
				got, err := store.Order(context.Background(), o.ID)
				require.NoError(t, err)
				assert.Equal(t, StatusPending, got.Status, "a refused confirm ends nothing: the saga compensates")
				return
			}
			// The saga runs FinishOrder, which ends the order.
			_, err = s.finish(input(t, finishInput{OrderID: o.ID, Status: StatusCompleted, Steps: append(slices.Clone(done), confirmed)}))
			require.NoError(t, err)
			got, err := store.Order(context.Background(), o.ID)
			require.NoError(t, err)
			assert.Equal(t, StatusCompleted, got.Status)
			assert.Len(t, got.Steps, 3)
			assert.Equal(t, []published{{topicCompleted, topicCompleted + "-" + o.ID}}, pub.sent)
		})
	}
}
