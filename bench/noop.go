package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/dapr/durabletask-go/workflow"
	"github.com/google/uuid"
)

// The no-op ceiling: the checkout workflow's shape with activities that do
// nothing, on a sidecar of its own with the local profile's workflow store
// and orders' tracing and workflow settings (noop_config.go), joined to the
// whole local system running beside it: the system's placement, scheduler
// and sentry (mTLS), as the checkout's workflows run.

var noopRetry = &workflow.RetryPolicy{
	MaxAttempts: 5, InitialRetryInterval: 500 * time.Millisecond, BackoffCoefficient: 2,
	MaxRetryInterval: 4 * time.Second, RetryTimeout: 30 * time.Second,
}

// noopOrder is about the size of a one-line order.
type noopOrder struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Status     string    `json:"status"`
	Items      []any     `json:"items"`
	TotalCents int64     `json:"total_cents"`
	CreatedAt  time.Time `json:"created_at"`
}

func noopCheckout(ctx *workflow.WorkflowContext) (any, error) {
	var o noopOrder
	if err := ctx.GetInput(&o); err != nil {
		return nil, err
	}
	call := func(name string) error {
		return ctx.CallActivity(name, workflow.WithActivityInput(o), workflow.WithActivityRetryPolicy(noopRetry)).Await(nil)
	}
	if err := call("SaveOrder"); err != nil {
		return nil, err
	}
	// The last step's activity ends the saga, as the checkout's
	// ConfirmReservation does (FinishOrder runs only for a cancel).
	for _, step := range []string{"ReserveStock", "Charge", "ConfirmReservation"} {
		if ctx.WaitForExternalEvent("cancel", 0).Await(nil) == nil {
			return "cancelled", nil
		}
		if err := call(step); err != nil {
			return nil, err
		}
	}
	return "completed", nil
}

// finishes records when each instance's last activity ran, and how the
// instance ended.
type finishes struct {
	mu   sync.Mutex
	done map[string]chan finish
}

type finish struct {
	status string
	at     time.Time
}

func (f *finishes) ch(id string) chan finish {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.done[id]
	if !ok {
		c = make(chan finish, 1)
		f.done[id] = c
	}
	return c
}

// record notes the end of instance id now (a repeat of its last
// activity is not noted again).
func (f *finishes) record(id, status string) {
	select {
	case f.ch(id) <- finish{status, time.Now()}:
	default:
	}
}

// await waits for the end of instance id, scheduled at sent.
func (f *finishes) await(ctx context.Context, id string, sent time.Time) (ended, error) {
	select {
	case e := <-f.ch(id):
		return ended{status: e.status, latency: e.at.Sub(sent), at: e.at}, nil
	case <-ctx.Done():
		return ended{}, ctx.Err()
	}
}

func runNoopSeries(ctx context.Context, cfg config, s *sagaSeries, log func(string, ...any)) error {
	fin := &finishes{done: map[string]chan finish{}}
	r := workflow.NewRegistry()
	nop := func(workflow.ActivityContext) (any, error) { return nil, nil }
	if err := r.AddWorkflowN("Checkout", noopCheckout); err != nil {
		return err
	}
	for _, a := range []string{"SaveOrder", "ReserveStock", "Charge"} {
		if err := r.AddActivityN(a, nop); err != nil {
			return err
		}
	}
	if err := r.AddActivityN("ConfirmReservation", func(ctx workflow.ActivityContext) (any, error) {
		var o noopOrder
		if err := ctx.GetInput(&o); err != nil {
			return nil, err
		}
		fin.record(o.ID, "completed")
		return nil, nil
	}); err != nil {
		return err
	}
	shp, err := startShop(ctx, cfg, "local", "noop", log)
	if err != nil {
		return err
	}
	defer shp.stop()
	h, err := startWorkflowHost(ctx, cfg, "benchnoop", r, shp.sys)
	if err != nil {
		return err
	}
	defer h.stop()
	wf := h.wf
	schedule := func(ctx context.Context) (func(context.Context) (ended, error), error) {
		o := noopOrder{ID: uuid.NewString(), UserID: uuid.NewString(), Status: "pending", TotalCents: 590, CreatedAt: time.Now().UTC(),
			Items: []any{map[string]any{"product_id": "paper-filters-100", "name": "Paper Filters, pack of 100", "quantity": 1, "price_cents": 590}}}
		sent := time.Now()
		if _, err := wf.ScheduleWorkflow(ctx, "Checkout", workflow.WithInstanceID(o.ID), workflow.WithInput(o)); err != nil {
			return nil, err
		}
		return func(ctx context.Context) (ended, error) { return fin.await(ctx, o.ID, sent) }, nil
	}
	// The engine is ready when a first instance completes.
	w, err := schedule(ctx)
	if err != nil {
		return fmt.Errorf("schedule a first workflow: %w", err)
	}
	firstCtx, cancelFirst := context.WithTimeout(ctx, time.Minute)
	_, err = w(firstCtx)
	cancelFirst()
	if err != nil {
		return fmt.Errorf("a first no-op workflow did not complete: %w\n%s", err, h.tail(20))
	}
	s.procs = func() map[string]int { return h.pids }
	rising(ctx, s, cfg.benchtime, 256, nil, nil, schedule, log)
	return nil
}

// quietLogger drops the workflow client's informational lines (connects,
// stops) and keeps warnings and errors on stderr.
type quietLogger struct{}

func (quietLogger) Debug(...any)              {}
func (quietLogger) Debugf(string, ...any)     {}
func (quietLogger) Info(...any)               {}
func (quietLogger) Infof(string, ...any)      {}
func (quietLogger) Warn(v ...any)             { fmt.Fprintln(os.Stderr, append([]any{"workflow:"}, v...)...) }
func (quietLogger) Warnf(f string, v ...any)  { fmt.Fprintf(os.Stderr, "workflow: "+f+"\n", v...) }
func (quietLogger) Error(v ...any)            { fmt.Fprintln(os.Stderr, append([]any{"workflow:"}, v...)...) }
func (quietLogger) Errorf(f string, v ...any) { fmt.Fprintf(os.Stderr, "workflow: "+f+"\n", v...) }
