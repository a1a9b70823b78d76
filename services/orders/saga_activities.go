package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/dapr/durabletask-go/workflow"

	"github.com/daprshop/daprshop/internal/apperr"
)

// The activities. Each may run more than once: the participants' barriers
// make a repeat a no-op, and FinishOrder records a step once.

// saveOrder is the one creator of the order: the request that placed it
// only starts this saga (docs/checkout-saga.md, "One creator").
func (s *saga) saveOrder(ctx workflow.ActivityContext) (any, error) {
	var in checkoutInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, err
	}
	return nil, s.save(ctx.Context(), in)
}

// save writes the order, its entry in its user's index and its request's
// claim, completed with the response the request gave (the order as
// placed), in one transaction. A repeat finds the order and does nothing.
func (s *saga) save(ctx context.Context, in checkoutInput) error {
	resp, err := json.Marshal(in.Order)
	if err != nil {
		return fmt.Errorf("encode order: %w", err)
	}
	err = s.store.Create(ctx, in.Order, in.Key, resp)
	if err != nil && !apperr.Is(err, apperr.Conflict) {
		return err
	}
	return nil
}

func (s *saga) reserve(ctx workflow.ActivityContext) (any, error) {
	return s.forward(ctx, "reserve", func(c context.Context, o Order) (refusal, error) {
		return s.parts.Reserve(c, o.ID, o.Items)
	})
}

func (s *saga) charge(ctx workflow.ActivityContext) (any, error) {
	return s.forward(ctx, "charge", func(c context.Context, o Order) (refusal, error) {
		return s.parts.Charge(c, o.ID, o.UserID, o.TotalCents)
	})
}

// confirm is the last forward step, and ends the saga it completes: the
// order is written completed with its steps and order.completed published
// in the same activity, one activity (and its share of the workflow
// engine's writes) fewer per checkout. An end that fails does not fail the
// activity: the confirm is done, and a retry that ended in compensation
// would refund stock already sold (the hazard of steps that needed a
// write). The saga then runs FinishOrder, retried until it succeeds.
func (s *saga) confirm(ctx workflow.ActivityContext) (any, error) {
	var in confirmInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, err
	}
	out, err := s.step(ctx.Context(), in.Order, "confirm", func(c context.Context, o Order) (refusal, error) {
		return s.parts.Confirm(c, o.ID, o.Items)
	})
	if err != nil || out.Refused || !in.Ends {
		return out, err
	}
	end := finishInput{OrderID: in.ID, Status: StatusCompleted, Steps: append(slices.Clone(in.Done), *out.Step)}
	if err := s.end(ctx.Context(), end); err == nil {
		out.Finished = true
	}
	return out, nil
}

func (s *saga) refund(ctx workflow.ActivityContext) (any, error) {
	return s.forward(ctx, "refund", func(c context.Context, o Order) (refusal, error) {
		return refusal{}, s.parts.Refund(c, o.ID)
	})
}

func (s *saga) release(ctx workflow.ActivityContext) (any, error) {
	return s.forward(ctx, "release", func(c context.Context, o Order) (refusal, error) {
		return refusal{}, s.parts.Release(c, o.ID, o.Items)
	})
}

// forward runs one participant call and returns its outcome with the step
// as it went. Nothing is written here: the saga keeps the steps (its
// history, shown in its custom status) and FinishOrder writes them on the
// order with its end, once. (Before, each step was written on the order as
// it went: seven writes per saga more, and a hazard: a step done whose
// write kept failing could be taken for failed and compensated, a confirm
// then undone as stock sold and money refunded.)
func (s *saga) forward(ctx workflow.ActivityContext, step string, call func(context.Context, Order) (refusal, error)) (any, error) {
	var o Order
	if err := ctx.GetInput(&o); err != nil {
		return nil, err
	}
	out, err := s.step(ctx.Context(), o, step, call)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// step runs one participant call for o and returns its outcome.
func (s *saga) step(ctx context.Context, o Order, step string, call func(context.Context, Order) (refusal, error)) (outcome, error) {
	s.tracker.running(o.ID, o.CreatedAt, step == "refund" || step == "release")
	r, err := call(ctx, o)
	if err != nil && !errors.Is(err, errPermanent) {
		sagaSteps.WithLabelValues(step, "error").Inc()
	} else {
		sagaSteps.WithLabelValues(step, "ok").Inc()
	}
	st := Step{Name: step, Status: "done", At: s.now().UTC()}
	switch {
	case errors.Is(err, errPermanent):
		// A compensation the participant refuses for good (a release of
		// stock that a late confirm sold): no retry can change it, so it is
		// recorded for a human to see rather than retried for a day.
		st.Status, st.Detail = "failed", err.Error()
	case err != nil:
		return outcome{}, fmt.Errorf("%s for order %s: %w", step, o.ID, err)
	case r.Refused:
		st.Status, st.Detail = "failed", r.Reason
	}
	return outcome{refusal: r, Step: &st}, nil
}

// finish is FinishOrder: the end of a saga that was cancelled, or whose
// confirm could not end it.
func (s *saga) finish(ctx workflow.ActivityContext) (any, error) {
	var in finishInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, err
	}
	return nil, s.end(ctx.Context(), in)
}

// end sets the order's final status with its steps and publishes its
// event, with an id made of the order's, so a repeat is the same event to
// subscribers.
func (s *saga) end(ctx context.Context, in finishInput) error {
	now := s.now().UTC()
	var ended bool // by this run, not an earlier one
	o, err := s.store.Update(ctx, in.OrderID, func(o *Order) error {
		ended = false // Update may call again after a lost race
		for _, st := range in.Steps {
			o.record(st)
		}
		if o.Status != StatusPending {
			return nil // finished by an earlier run of this activity
		}
		o.Status, o.Reason, o.UpdatedAt = in.Status, in.Reason, &now
		ended = true
		return nil
	})
	if err != nil {
		sagaSteps.WithLabelValues("finish", "error").Inc()
		return fmt.Errorf("finish order %s: %w", in.OrderID, err)
	}
	if ended {
		sagasFinished.WithLabelValues(outcomeOf(o.Status)).Inc()
		sagaDuration.WithLabelValues(outcomeOf(o.Status)).Observe(now.Sub(o.CreatedAt).Seconds())
	}
	topic := topicCompleted
	if o.Status == StatusCancelled {
		topic = topicCancelled
	}
	if err := s.events.Publish(ctx, topic, topic+"-"+o.ID, newOrderEvent(o)); err != nil {
		sagaSteps.WithLabelValues("finish", "error").Inc()
		return fmt.Errorf("publish %s for order %s: %w", topic, o.ID, err)
	}
	sagaSteps.WithLabelValues("finish", "ok").Inc()
	s.tracker.finished(o.ID)
	return nil
}
