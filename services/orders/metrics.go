package main

import (
	"context"
	"sync"
	"time"

	"github.com/dapr/durabletask-go/workflow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/daprshop/daprshop/internal/telemetry"
)

// What the checkout sagas report to Prometheus. Counters count events in
// this process; the in-flight gauges come from sagaTracker.
var (
	sagasStarted = promauto.NewCounter(prometheus.CounterOpts{
		Name: "daprshop_saga_started_total",
		Help: "Checkout sagas scheduled on Dapr Workflow.",
	})
	sagasFinished = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "daprshop_saga_finished_total",
		Help: "Checkout sagas that reached their end, by outcome: completed, or compensated (cancelled, with every step done so far undone).",
	}, []string{"outcome"})
	sagaDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "daprshop_saga_duration_seconds",
		Help:    "Time from an order's creation to the end of its checkout saga, by outcome.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"outcome"})
	sagaSteps = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "daprshop_saga_steps_total",
		Help: "Runs of the checkout saga's activities, by step and outcome: ok (the participant answered, yes or no) or error (the workflow retries it).",
	}, []string{"step", "outcome"})
)

// The outcomes of a saga, as labelled.
const (
	outcomeCompleted   = "completed"
	outcomeCompensated = "compensated"
)

func init() {
	// Every series exists from the start, at 0, so rates and ratios over
	// them are defined before the first saga ends.
	for _, o := range []string{outcomeCompleted, outcomeCompensated} {
		sagasFinished.WithLabelValues(o)
		sagaDuration.WithLabelValues(o)
	}
	for _, step := range []string{"reserve", "charge", "confirm", "refund", "release", "finish"} {
		for _, o := range []string{"ok", "error"} {
			sagaSteps.WithLabelValues(step, o)
		}
	}
}

// outcomeOf labels an order's final status.
func outcomeOf(s Status) string {
	if s == StatusCompleted {
		return outcomeCompleted
	}
	return outcomeCompensated
}

// sagaTracker knows the sagas this process has seen running and not yet
// finished: it exports how many are running or compensating, and the age
// of the oldest, which is how a stuck saga shows.
//
// It is this process's view: a saga is known once it is started here or
// one of its activities runs here. After a restart, a saga that is waiting
// out a retry shows again at its next activity.
type sagaTracker struct {
	now func() time.Time

	mu    sync.Mutex
	sagas map[string]trackedSaga
}

type trackedSaga struct {
	began        time.Time
	compensating bool
}

func newSagaTracker(now func() time.Time) *sagaTracker {
	return &sagaTracker{now: now, sagas: map[string]trackedSaga{}}
}

// started records a saga just scheduled.
func (t *sagaTracker) started(o Order) {
	sagasStarted.Inc()
	t.running(o.ID, o.CreatedAt, false)
}

// running records that the saga of order id is under way (compensating
// when it is undoing its steps); began is when the order was made.
func (t *sagaTracker) running(id string, began time.Time, compensating bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.sagas[id]
	if !ok {
		s.began = began
	}
	s.compensating = s.compensating || compensating
	t.sagas[id] = s
}

// finished forgets the saga of order id.
func (t *sagaTracker) finished(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.sagas, id)
}

var (
	inFlightDesc = prometheus.NewDesc("daprshop_sagas_in_flight",
		"Checkout sagas under way that this orders process knows of, by state: running or compensating.", []string{"state"}, nil)
	oldestDesc = prometheus.NewDesc("daprshop_saga_oldest_in_flight_seconds",
		"Age of the oldest checkout saga under way that this orders process knows of (0 when none).", nil, nil)
)

// Describe and Collect make the tracker a Prometheus collector.
func (t *sagaTracker) Describe(ch chan<- *prometheus.Desc) {
	ch <- inFlightDesc
	ch <- oldestDesc
}

func (t *sagaTracker) Collect(ch chan<- prometheus.Metric) {
	t.mu.Lock()
	now := t.now()
	var running, compensating int
	var oldest time.Duration
	for _, s := range t.sagas {
		if s.compensating {
			compensating++
		} else {
			running++
		}
		oldest = max(oldest, now.Sub(s.began))
	}
	t.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(running), "running")
	ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(compensating), "compensating")
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, oldest.Seconds())
}

// traced runs an activity inside a span of its own, "activity <name>",
// a child of the span daprd made for the activity (whose trace context
// the workflow worker puts in the activity's context): the calls the
// activity makes to other apps hang below it.
func traced(name string, act workflow.Activity) workflow.Activity {
	return func(actx workflow.ActivityContext) (any, error) {
		ctx, span := telemetry.Tracer().Start(actx.Context(), "activity "+name)
		defer span.End()
		span.SetAttributes(attribute.Int("workflow.task_id", int(actx.GetTaskID())))
		res, err := act(activityContext{ActivityContext: actx, ctx: ctx})
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "activity failed; the workflow retries it")
		}
		return res, err
	}
}

// activityContext is an activity context whose Context carries our span.
type activityContext struct {
	workflow.ActivityContext
	ctx context.Context //nolint:containedctx // the activity's own, replaced
}

func (a activityContext) Context() context.Context { return a.ctx }
