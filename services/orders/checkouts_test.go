package main

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dapr/durabletask-go/workflow"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/daprdtest"
)

// standInStep is the step the stand-in saga below shows as its progress.
var standInStep = Step{Name: "reserve", Status: "done", At: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}

// The Dapr adapter that starts sagas, on a real daprd with its own placement
// and scheduler. The workflow registered here stands in for the saga: what
// is tested is when an instance is started, woken or left alone.
func TestDaprCheckouts(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real daprd, placement and scheduler")
	}
	t.Parallel()
	// The workflow engine keeps its state in the orders store, as in every
	// profile.
	sc := daprdtest.StartWithWorkflows(t, "orders", daprdtest.StateStore("orders-store", daprdtest.WithActorStateStore()))
	wf := workflow.NewClient(sc.Client.GrpcClientConn())
	var runs atomic.Int32
	r := workflow.NewRegistry()
	require.NoError(t, r.AddWorkflowN(checkoutWorkflow, func(ctx *workflow.WorkflowContext) (any, error) {
		if !ctx.IsReplaying() {
			runs.Add(1)
		}
		b, err := json.Marshal(progress{Steps: []Step{standInStep}})
		if err != nil {
			return nil, err
		}
		ctx.SetCustomStatus(string(b))
		return "done", nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.NoError(c, wf.StartWorker(ctx, r))
	}, time.Minute, 200*time.Millisecond, "the workflow worker connects")
	checkouts := &daprCheckouts{wf: wf, tracker: newSagaTracker(time.Now)}
	order := func() Order {
		return Order{ID: uuid.NewString(), UserID: uuid.NewString(), Status: StatusPending, TotalCents: 100,
			Items: []Item{{ProductID: "p", Name: "P", Quantity: 1, PriceCents: 100}}, CreatedAt: time.Now().UTC()}
	}
	completed := func(t *testing.T, id string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		meta, err := wf.WaitForWorkflowCompletion(wctx, id)
		require.NoError(t, err)
		assert.Equal(t, workflow.StatusCompleted.String(), meta.RuntimeStatus.String())
	}

	t.Run("a new order's saga is started once, however often it is asked", func(t *testing.T) {
		o := order()
		require.NoError(t, checkouts.Start(ctx, o, "k", true), "scheduled without a look first")
		completed(t, o.ID)
		before := runs.Load()
		require.NoError(t, checkouts.Start(ctx, o, "k", false), "a retry, or a take-over of its key")
		meta, err := wf.FetchWorkflowMetadata(ctx, o.ID)
		require.NoError(t, err)
		assert.Equal(t, workflow.StatusCompleted.String(), meta.RuntimeStatus.String(), "not started over")
		assert.Equal(t, before, runs.Load())
	})

	t.Run("the order is read from its saga's input until the saga saves it", func(t *testing.T) {
		o := order()
		require.NoError(t, checkouts.Start(ctx, o, "k", true))
		got, _, err := checkouts.Placed(ctx, o.ID)
		require.NoError(t, err)
		assert.Equal(t, o, got)
		completed(t, o.ID)
		got, steps, err := checkouts.Placed(ctx, o.ID)
		require.NoError(t, err)
		assert.Equal(t, o, got)
		assert.Equal(t, []Step{standInStep}, steps, "the steps so far, from the saga's custom status")
		_, _, err = checkouts.Placed(ctx, uuid.NewString())
		assert.True(t, apperr.Is(err, apperr.NotFound), "no saga: %v", err)
	})

	t.Run("a saga saved but never started is woken by the retry that finds it", func(t *testing.T) {
		// What a create leaves whose start reminder fired before its save
		// landed: the instance saved, pending, and nothing due to run it
		// (here its start is an hour away).
		o := order()
		_, err := wf.ScheduleWorkflow(ctx, checkoutWorkflow, workflow.WithInstanceID(o.ID), workflow.WithInput(o),
			workflow.WithStartTime(time.Now().Add(time.Hour)))
		require.NoError(t, err)
		meta, err := wf.FetchWorkflowMetadata(ctx, o.ID)
		require.NoError(t, err)
		require.Equal(t, workflow.StatusPending.String(), meta.RuntimeStatus.String())

		require.NoError(t, checkouts.Start(ctx, o, "k", false))
		completed(t, o.ID)
	})
}
