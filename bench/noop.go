package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/dapr/durabletask-go/workflow"
	"github.com/google/uuid"

	"github.com/daprshop/daprshop/internal/daprproc"
	"github.com/daprshop/daprshop/internal/sidecar"
)

// The no-op ceiling: the checkout workflow's shape with activities that do
// nothing, on a sidecar of its own with the local profile's workflow store
// and orders' tracing (noop_config.go), its own placement and scheduler.

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

// finishes records when each instance's last activity ran.
type finishes struct {
	mu   sync.Mutex
	done map[string]chan time.Time
}

func (f *finishes) ch(id string) chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.done[id]
	if !ok {
		c = make(chan time.Time, 1)
		f.done[id] = c
	}
	return c
}

func runNoopSeries(ctx context.Context, cfg config, s *sagaSeries, log func(string, ...any)) error {
	dir, err := os.MkdirTemp("", "bench-noop-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ports, err := freePorts(10)
	if err != nil {
		return err
	}
	pl := daprproc.Placement{Port: ports[0], HealthzPort: ports[1], MetricsPort: ports[2], RaftPort: ports[3], LogLevel: "warn"}
	placement, err := startChild(pl.Spec(filepath.Join(cfg.bin, "placement"), dir, nil), time.Minute)
	if err != nil {
		return err
	}
	defer placement.stop()
	sc := daprproc.Scheduler{
		Port: ports[4], HealthzPort: ports[5], MetricsPort: ports[6], EtcdClientPort: ports[7], EtcdPeerPort: ports[8],
		EtcdDataDir: filepath.Join(dir, "etcd"), IdentityDir: filepath.Join(dir, "scheduler-identity"), LogLevel: "warn",
	}
	scheduler, err := startChild(sc.Spec(filepath.Join(cfg.bin, "scheduler"), dir, nil), time.Minute)
	if err != nil {
		return err
	}
	defer scheduler.stop()
	store, err := noopStore(cfg.root)
	if err != nil {
		return err
	}
	config, err := noopConfig(cfg.root)
	if err != nil {
		return err
	}
	res := filepath.Join(dir, "resources")
	if err := writeFiles(res, map[string]string{"store.yaml": store}); err != nil {
		return err
	}
	if err := writeFiles(dir, map[string]string{"config.yaml": config}); err != nil {
		return err
	}
	d, err := startDaprd(cfg.daprd, daprdOptions{appID: "benchnoop", resources: res, config: filepath.Join(dir, "config.yaml"),
		placement: pl.Addr(), scheduler: sc.Addr()})
	if err != nil {
		return err
	}
	defer d.stop()
	client, err := sidecar.Dial(sidecar.Config{Host: "127.0.0.1", HTTPPort: strconv.Itoa(d.HTTPPort), GRPCPort: strconv.Itoa(d.GRPCPort), APIToken: daprToken})
	if err != nil {
		return err
	}
	defer client.Close()
	wf := workflow.NewClientWithLogger(client.GrpcClientConn(), quietLogger{})
	fin := &finishes{done: map[string]chan time.Time{}}
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
		select {
		case fin.ch(o.ID) <- time.Now():
		default: // a repeat
		}
		return nil, nil
	}); err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := retry(wctx, func() error { return wf.StartWorker(wctx, r) }); err != nil {
		return fmt.Errorf("start the workflow worker: %w", err)
	}
	schedule := func(ctx context.Context) (func(context.Context) (ended, error), error) {
		o := noopOrder{ID: uuid.NewString(), UserID: uuid.NewString(), Status: "pending", TotalCents: 590, CreatedAt: time.Now().UTC(),
			Items: []any{map[string]any{"product_id": "paper-filters-100", "name": "Paper Filters, pack of 100", "quantity": 1, "price_cents": 590}}}
		sent := time.Now()
		if _, err := wf.ScheduleWorkflow(ctx, "Checkout", workflow.WithInstanceID(o.ID), workflow.WithInput(o)); err != nil {
			return nil, err
		}
		return func(ctx context.Context) (ended, error) {
			select {
			case at := <-fin.ch(o.ID):
				return ended{status: "completed", latency: at.Sub(sent), at: at}, nil
			case <-ctx.Done():
				return ended{}, ctx.Err()
			}
		}, nil
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
		return fmt.Errorf("a first no-op workflow did not complete: %w\n%s", err, d.tail(20))
	}
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
