package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dapr/durabletask-go/workflow"
)

// The checkout saga, hosted by Dapr Workflow (durable: it survives a crash
// of this app or its sidecar and resumes from its history). One instance
// per order, with the order id as its instance id, so a retried request
// cannot start two. Steps:
//
//	save order → reserve stock (catalog try) → charge (payments)
//	→ confirm the reservation (catalog confirm), complete, publish order.completed
//
// (the confirm's activity ends the saga it completes; FinishOrder does
// only when that end failed, and for every cancel)
//
// On a refusal (out of stock, declined, reservation expired), a failure that
// outlasts the retry policy, or the customer's cancel, it compensates in
// reverse (refund, release), cancels the order with a reason the customer
// can read and publishes order.cancelled. Every participant operation is
// idempotent per (order, step) behind a barrier, because activities run at
// least once and a timed-out call may still land: a compensation is run for
// every step that was attempted, and one whose action never happened
// succeeds doing nothing and blocks the late action.

// Names registered with the workflow runtime: part of the saga's durable
// history, so they never change.
const (
	checkoutWorkflow = "Checkout"
	cancelEvent      = "cancel"
	wakeEvent        = "wake" // runs an instance whose start was lost; never awaited
	actSave          = "SaveOrder"
	actReserve       = "ReserveStock"
	actCharge        = "Charge"
	actConfirm       = "ConfirmReservation"
	actRefund        = "Refund"
	actRelease       = "ReleaseStock"
	actFinish        = "FinishOrder"
)

// Topics the saga publishes to.
const (
	topicCompleted = "order.completed"
	topicCancelled = "order.cancelled"
)

// forwardRetry bounds the retries of a forward step: about 8 s of a
// participant being unreachable before the saga gives up and compensates.
var forwardRetry = &workflow.RetryPolicy{
	MaxAttempts:          5,
	InitialRetryInterval: 500 * time.Millisecond,
	BackoffCoefficient:   2,
	MaxRetryInterval:     4 * time.Second,
	RetryTimeout:         30 * time.Second,
}

// undoRetry keeps compensating until it succeeds: an order must not stay
// half done. (A day, then the saga fails loudly and waits for a human.)
var undoRetry = &workflow.RetryPolicy{
	MaxAttempts:          100000,
	InitialRetryInterval: time.Second,
	BackoffCoefficient:   2,
	MaxRetryInterval:     15 * time.Second,
	RetryTimeout:         24 * time.Hour,
}

// refusal is a participant's "no" to a forward step (out of stock,
// declined): final, so the saga compensates instead of retrying.
type refusal struct {
	Refused bool   `json:"refused,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// outcome is what a step's activity returns: the participant's answer and
// the step as it went. The steps are written on the order once, by
// FinishOrder; until then the saga's custom status shows them (progress).
type outcome struct {
	refusal
	Step *Step `json:"step,omitempty"`
	// Unrecorded is a step's result in the history of an instance begun
	// before steps were kept by the saga (each activity then wrote its step
	// on the order, and returned it only when it could not): such an
	// instance still finishes right.
	Unrecorded *Step `json:"unrecorded,omitempty"`
	// Finished: this step's activity ended the saga (the confirm's, when
	// the order completes), so FinishOrder is not run.
	Finished bool `json:"finished,omitempty"`
}

// confirmInput is ConfirmReservation's input: the order and, when its
// activity is to end the saga it completes (Ends), the steps done before
// it, which that end writes on the order. (Flat in JSON: the input of an
// instance begun before the confirm ended the saga is an order alone, and
// leaves the end to FinishOrder.)
type confirmInput struct {
	Order
	Ends bool   `json:"ends,omitempty"`
	Done []Step `json:"done,omitempty"`
}

// progress is the saga's custom status: the steps so far and, while it
// compensates, why. GET /orders/{id} shows a pending order's steps from it.
type progress struct {
	Steps        []Step `json:"steps"`
	Compensating string `json:"compensating,omitempty"`
}

// participants are the services the saga changes. Errors are transient
// (the call is retried); a refusal is an answer.
type participants interface {
	Reserve(ctx context.Context, orderID string, items []Item) (refusal, error)
	// Confirm and Release name the order's products, so that the
	// catalog reads them with the reservation (one read, not two).
	Confirm(ctx context.Context, orderID string, items []Item) (refusal, error)
	Release(ctx context.Context, orderID string, items []Item) error
	Charge(ctx context.Context, orderID, userID string, amountCents int64) (refusal, error)
	Refund(ctx context.Context, orderID string) error
}

// publisher publishes an event with a given CloudEvent id, so that a
// repeated publish is recognised by subscribers as the same event.
type publisher interface {
	Publish(ctx context.Context, topic, eventID string, data any) error
}

// orderEvent is the payload of order.completed and order.cancelled, as
// contracts/events/order.*.schema.json state it.
type orderEvent struct {
	OrderID    string      `json:"order_id"`
	UserID     string      `json:"user_id"`
	Status     Status      `json:"status"`
	TotalCents int64       `json:"total_cents"`
	Reason     string      `json:"reason,omitempty"`
	Items      []eventItem `json:"items"`
}

// eventItem is one line of an order in its events: which product, how
// many.
type eventItem struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// newOrderEvent is the event of a finished order.
func newOrderEvent(o Order) orderEvent {
	ev := orderEvent{OrderID: o.ID, UserID: o.UserID, Status: o.Status, TotalCents: o.TotalCents, Reason: o.Reason,
		Items: make([]eventItem, 0, len(o.Items))}
	for _, it := range o.Items {
		ev.Items = append(ev.Items, eventItem{ProductID: it.ProductID, Quantity: it.Quantity})
	}
	return ev
}

// saga holds what the workflow's activities use.
type saga struct {
	store   orderStore
	parts   participants
	events  publisher
	now     func() time.Time
	tracker *sagaTracker
}

// register adds the workflow and its activities to r.
func (s *saga) register(r *workflow.Registry) error {
	return errors.Join(
		r.AddWorkflowN(checkoutWorkflow, checkout),
		r.AddActivityN(actSave, traced(actSave, s.saveOrder)),
		r.AddActivityN(actReserve, traced(actReserve, s.reserve)),
		r.AddActivityN(actCharge, traced(actCharge, s.charge)),
		r.AddActivityN(actConfirm, traced(actConfirm, s.confirm)),
		r.AddActivityN(actRefund, traced(actRefund, s.refund)),
		r.AddActivityN(actRelease, traced(actRelease, s.release)),
		r.AddActivityN(actFinish, traced(actFinish, s.finish)),
	)
}

// checkoutInput is the saga's input: the order, and the Idempotency-Key of
// the request that placed it, whose claim SaveOrder completes with the
// order. (Flat in JSON: an input without a key is an order alone, as
// instances started before the key was part of it are.)
type checkoutInput struct {
	Order
	Key string `json:"idempotency_key,omitempty"`
}

// finishInput tells FinishOrder how the saga ended, with its steps.
type finishInput struct {
	OrderID string `json:"order_id"`
	Status  Status `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Steps   []Step `json:"steps,omitempty"`
}

// checkout is the workflow. It must be deterministic: everything that
// touches the world is an activity.
func checkout(ctx *workflow.WorkflowContext) (any, error) {
	var in checkoutInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, fmt.Errorf("checkout input: %w", err)
	}
	o := in.Order
	var steps []Step // done so far; written on the order by FinishOrder
	show := func(compensating string) error {
		b, err := json.Marshal(progress{Steps: steps, Compensating: compensating})
		if err != nil {
			return fmt.Errorf("checkout progress: %w", err)
		}
		ctx.SetCustomStatus(string(b))
		return nil
	}
	took := func(out outcome) {
		switch {
		case out.Step != nil:
			steps = append(steps, *out.Step)
		case out.Unrecorded != nil:
			steps = append(steps, *out.Unrecorded)
		}
	}
	forward := func(name string, out *outcome) error {
		var in any = o
		if name == actConfirm {
			in = confirmInput{Order: o, Ends: true, Done: slices.Clone(steps)}
		}
		err := ctx.CallActivity(name, workflow.WithActivityInput(in), workflow.WithActivityRetryPolicy(forwardRetry)).Await(out)
		if err == nil {
			took(*out)
		}
		return err
	}
	var compensating string
	undo := func(name string) error {
		var out outcome
		err := ctx.CallActivity(name, workflow.WithActivityInput(o), workflow.WithActivityRetryPolicy(undoRetry)).Await(&out)
		if err == nil {
			took(out)
			err = show(compensating)
		}
		return err
	}
	finish := func(status Status, reason string) (any, error) {
		in := finishInput{OrderID: o.ID, Status: status, Reason: reason, Steps: steps}
		if err := ctx.CallActivity(actFinish, workflow.WithActivityInput(in), workflow.WithActivityRetryPolicy(undoRetry)).Await(nil); err != nil {
			return nil, err
		}
		return status, nil
	}
	var attempted []string // forward steps tried, so maybe done
	compensate := func(reason string) (any, error) {
		compensating = reason
		if err := show(compensating); err != nil {
			return nil, err
		}
		if slices.Contains(attempted, actCharge) {
			if err := undo(actRefund); err != nil {
				return nil, err
			}
		}
		if slices.Contains(attempted, actReserve) {
			if err := undo(actRelease); err != nil {
				return nil, err
			}
		}
		return finish(StatusCancelled, reason)
	}
	// cancelled reports a cancel the customer asked for, if it has arrived
	// (a zero timeout takes only an event already in the history).
	cancelled := func() bool {
		return ctx.WaitForExternalEvent(cancelEvent, 0).Await(nil) == nil
	}

	if err := ctx.CallActivity(actSave, workflow.WithActivityInput(in), workflow.WithActivityRetryPolicy(undoRetry)).Await(nil); err != nil {
		return nil, err
	}
	plan := []struct {
		name, unreachable string
	}{
		{actReserve, "the catalog could not be reached; nothing was charged"},
		{actCharge, "the payment service could not be reached; nothing was charged"},
		{actConfirm, "the catalog could not be reached to confirm the stock; the payment was refunded"},
	}
	for _, st := range plan {
		if cancelled() {
			return compensate("cancelled at your request")
		}
		attempted = append(attempted, st.name)
		var r outcome
		if err := forward(st.name, &r); err != nil {
			return compensate(st.unreachable)
		}
		if r.Refused {
			return compensate(r.Reason)
		}
		if err := show(""); err != nil {
			return nil, err
		}
		if r.Finished {
			return StatusCompleted, nil
		}
	}
	return finish(StatusCompleted, "")
}
