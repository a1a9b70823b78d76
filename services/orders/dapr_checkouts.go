package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dapr/durabletask-go/api"
	"github.com/dapr/durabletask-go/workflow"
	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/cloudevent"
	"github.com/daprshop/daprshop/internal/sidecar"
)

// daprPublisher publishes CloudEvents with ids of our choosing through the
// sidecar: the envelope is ours (cloudevent.Envelope, sent as
// cloudevent.ContentType) so daprd keeps its id.
type daprPublisher struct {
	client dapr.Client
	pubsub string
	source string
}

func (p *daprPublisher) Publish(ctx context.Context, topic, eventID string, data any) error {
	b, err := cloudevent.Envelope(topic, eventID, p.source, data)
	if err != nil {
		return err
	}
	err = p.client.PublishEvent(ctx, p.pubsub, topic, b, dapr.PublishEventWithContentType(cloudevent.ContentType))
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
//
// A new order (isNew: its id is its request's own, no start tried) can have
// no instance: its saga is scheduled without that look, one round trip to
// the workflow engine's store fewer on every checkout but a retried or
// taken-over one.
func (c *daprCheckouts) Start(ctx context.Context, o Order, key string, isNew bool) error {
	if !isNew {
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
	}
	_, err := c.wf.ScheduleWorkflow(ctx, checkoutWorkflow, workflow.WithInstanceID(o.ID), workflow.WithInput(checkoutInput{Order: o, Key: key}))
	if status.Code(errors.Unwrap(err)) == codes.AlreadyExists || status.Code(err) == codes.AlreadyExists {
		return nil // started by a concurrent request a moment ago
	}
	if err != nil {
		return sidecar.Err(err, "start checkout")
	}
	c.tracker.started(o)
	return nil
}

// Placed reads the order from its saga's input and the steps so far from
// its custom status (progress).
func (c *daprCheckouts) Placed(ctx context.Context, orderID string) (Order, []Step, error) {
	meta, err := c.wf.FetchWorkflowMetadata(ctx, orderID, workflow.WithFetchPayloads(true))
	switch {
	case errors.Is(err, api.ErrInstanceNotFound) || status.Code(errors.Unwrap(err)) == codes.NotFound:
		return Order{}, nil, apperr.E(apperr.NotFound, "order %s not found", orderID)
	case err != nil:
		return Order{}, nil, sidecar.Err(errors.Unwrap(err), "read checkout")
	}
	if meta.Input.GetValue() == "" {
		// Being created by a start still under way (daprd saves the
		// instance's input a moment after the instance is known): nothing
		// to read yet, as if not started.
		return Order{}, nil, apperr.E(apperr.NotFound, "order %s not found", orderID)
	}
	var in checkoutInput
	if err := json.Unmarshal([]byte(meta.Input.GetValue()), &in); err != nil || in.ID != orderID {
		return Order{}, nil, fmt.Errorf("decode the input of checkout %s: %v", orderID, err)
	}
	var p progress
	if cs := meta.CustomStatus.GetValue(); cs != "" {
		// Not JSON from an instance begun before progress was kept
		// (its steps are on the order): none here.
		_ = json.Unmarshal([]byte(cs), &p)
	}
	return in.Order, p.Steps, nil
}

// Cancel raises the cancel event the saga looks for between its steps.
func (c *daprCheckouts) Cancel(ctx context.Context, orderID string) error {
	err := c.wf.RaiseEvent(ctx, orderID, cancelEvent)
	return sidecar.Err(err, "cancel checkout")
}
