package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/dapr/durabletask-go/workflow"
	"github.com/google/uuid"

	"github.com/daprshop/daprshop/internal/shopclient"
)

// The Dapr series that does exactly what DTM does: a workflow of the same
// three participant calls (catalog try, compensated by cancel; payments
// charge, compensated by refund; catalog confirm) with the same bodies,
// through the orders app's sidecar with orders' API token, on the local
// profile's system, started with the workflow client. Its engine is the
// benchmark's own (wfHost, the project's workflow store and tracing), as
// DTM's server is. What it does not do is what DTM does not either: save,
// end or publish an order. So the checkout's distance from DTM splits into
// the engine's (this series against DTM) and the order's own work (the
// checkout against this series).

// callsInput is one saga of participant calls.
type callsInput struct {
	ID, UserID, ProductID string
	Price                 int64
	Invoke, Token         string // orders' sidecar's invoke URL, its API token
}

// callStep is one participant call: a path under Invoke and its body.
type callStep struct {
	In         callsInput
	Path, Body string
}

// callResult says whether a participant said no (a 4xx: out of stock,
// declined); a 5xx or a transport error is an activity error, retried.
type callResult struct{ Refused bool }

var callsRetry = noopRetry

// callsClient keeps connections to orders' sidecar open for the load (64
// idle, as the services' shared transport) and gives up after 10 s, as
// DTM's RequestTimeout does in its series.
var callsClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}

func callsSaga(ctx *workflow.WorkflowContext) (any, error) {
	var in callsInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, err
	}
	call := func(activity, path, body string) (bool, error) {
		var r callResult
		err := ctx.CallActivity(activity, workflow.WithActivityInput(callStep{In: in, Path: path, Body: body}),
			workflow.WithActivityRetryPolicy(callsRetry)).Await(&r)
		return err == nil && !r.Refused, err
	}
	reservation := "/catalog/method/reservations/" + in.ID
	try, _ := json.Marshal(map[string]any{"items": []map[string]any{{"product_id": in.ProductID, "quantity": 1}}})
	charge, _ := json.Marshal(map[string]any{"user_id": in.UserID, "amount_cents": in.Price})
	// As DTM does: a branch that fails is compensated with the ones
	// before it, in reverse order.
	if ok, err := call("Call", reservation+"/try", string(try)); !ok {
		return callsCompensate(ctx, in, err, reservation+"/cancel")
	}
	if ok, err := call("Call", "/payments/method/charges/"+in.ID, string(charge)); !ok {
		return callsCompensate(ctx, in, err, "/payments/method/charges/"+in.ID+"/refund", reservation+"/cancel")
	}
	if _, err := call("Last", reservation+"/confirm", "{}"); err != nil {
		return nil, err
	}
	return "completed", nil
}

func callsCompensate(ctx *workflow.WorkflowContext, in callsInput, cause error, paths ...string) (any, error) {
	for i, p := range paths {
		activity := "Call"
		if i == len(paths)-1 {
			activity = "LastCompensation"
		}
		if err := ctx.CallActivity(activity, workflow.WithActivityInput(callStep{In: in, Path: p, Body: "{}"}),
			workflow.WithActivityRetryPolicy(callsRetry)).Await(nil); err != nil {
			return nil, fmt.Errorf("compensate %s: %w", p, err)
		}
	}
	if cause != nil {
		return "cancelled: " + cause.Error(), nil
	}
	return "cancelled", nil
}

// participantCall posts a step's body to its participant through orders'
// sidecar.
func participantCall(ctx context.Context, st callStep) (callResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.In.Invoke+st.Path, bytes.NewReader([]byte(st.Body)))
	if err != nil {
		return callResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("dapr-api-token", st.In.Token)
	resp, err := callsClient.Do(req)
	if err != nil {
		return callResult{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode < 300:
		return callResult{}, nil
	case resp.StatusCode < 500:
		return callResult{Refused: true}, nil
	default:
		return callResult{}, fmt.Errorf("%s: %d %.200s", st.Path, resp.StatusCode, b)
	}
}

func runDaprCallsSeries(ctx context.Context, cfg config, s *sagaSeries, log func(string, ...any)) error {
	fin := &finishes{done: map[string]chan finish{}}
	r := workflow.NewRegistry()
	if err := r.AddWorkflowN("Calls", callsSaga); err != nil {
		return err
	}
	activity := func(end string) workflow.Activity {
		return func(ctx workflow.ActivityContext) (any, error) {
			var st callStep
			if err := ctx.GetInput(&st); err != nil {
				return nil, err
			}
			res, err := participantCall(ctx.Context(), st)
			if err == nil && end != "" && !(end == "completed" && res.Refused) {
				fin.record(st.In.ID, end)
			}
			return res, err
		}
	}
	for name, end := range map[string]string{"Call": "", "Last": "completed", "LastCompensation": "cancelled"} {
		if err := r.AddActivityN(name, activity(end)); err != nil {
			return err
		}
	}
	h, err := startWorkflowHost(ctx, cfg, "benchcalls", r, nil)
	if err != nil {
		return err
	}
	defer h.stop()
	sys := newRefilled(ctx, cfg, "dapr-calls", log)
	defer func() {
		s.invariant = sys.close()
		log("part 2: %s: %s", s.label, s.invariant.Summary())
	}()
	if err := sys.use(); err != nil {
		return err
	}
	schedule := func(ctx context.Context) (func(context.Context) (ended, error), error) {
		shp := sys.cur
		sh, it, ok := shp.pick()
		if !ok {
			return nil, fmt.Errorf("no stock or money left")
		}
		in := callsInput{ID: uuid.NewString(), UserID: sh.id, ProductID: it.id, Price: it.price, Invoke: sys.invoke, Token: sys.token}
		sent := time.Now()
		if _, err := h.wf.ScheduleWorkflow(ctx, "Calls", workflow.WithInstanceID(in.ID), workflow.WithInput(in)); err != nil {
			shp.audit.Unknown(1, it.price)
			return nil, err
		}
		return func(ctx context.Context) (ended, error) {
			e, err := fin.await(ctx, in.ID, sent)
			status := e.status
			if err != nil {
				shp.audit.Unknown(1, it.price)
				return e, err
			}
			// Like DTM's, the saga is no order of the orders service:
			// the audit takes its outcome, and holds the charge of its id.
			shp.audit.Placed("", shopclient.Order{ID: in.ID, UserID: sh.id, Status: status, TotalCents: it.price,
				Items: []shopclient.Item{{ProductID: it.id, Quantity: 1, PriceCents: it.price}}})
			return e, nil
		}, nil
	}
	// Ready when one saga goes through.
	if err := retry(ctx, func() error {
		w, err := schedule(ctx)
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		_, err = w(wctx)
		return err
	}); err != nil {
		return fmt.Errorf("a first saga of participant calls: %w\n%s", err, h.tail(20))
	}
	s.procs = func() map[string]int { return merge(systemPIDs(sys.cur.sys), h.pids) }
	rising(ctx, s, cfg.benchtime, 256, func() int { return sys.cur.capacity() }, sys.refill, schedule, log)
	s.note = fmt.Sprintf("%d systems", sys.systems)
	return nil
}
