// Package faults makes a service's steps fail or slow down on purpose, from
// configuration, so that tests and demos can watch the checkout saga retry
// and compensate. Faults are off unless configured:
//
//	FAULT_FAILURE_RATE  a fraction from 0 to 1 of calls answered 503
//	FAULT_LATENCY       a Go duration added before every call
//	FAULT_STEP          one named step whose every call is answered 503
//
// An injected failure happens before the step reads or writes anything,
// like a dependency that is down.
package faults

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/env"
	"github.com/daprshop/daprshop/internal/web"
)

// Faults are the configured faults. The zero value injects nothing.
type Faults struct {
	FailureRate float64       // the fraction of calls answered 503
	Latency     time.Duration // added before every call
	Step        string        // a step whose every call is answered 503
	// Roll draws from [0, 1); Wait pauses for d or until ctx ends. Nil
	// means math/rand and a timer; tests replace them.
	Roll func() float64
	Wait func(ctx context.Context, d time.Duration) error
}

// Parse reads FAULT_FAILURE_RATE, FAULT_LATENCY and FAULT_STEP, which must
// name one of steps.
func Parse(getenv func(string) string, steps ...string) (Faults, error) {
	var f Faults
	rate, err := strconv.ParseFloat(env.Or(getenv, "FAULT_FAILURE_RATE", "0"), 64)
	if err != nil || !(rate >= 0 && rate <= 1) { // NaN fails both
		return Faults{}, fmt.Errorf("FAULT_FAILURE_RATE: want a fraction from 0 to 1 such as 0.2, got %q", getenv("FAULT_FAILURE_RATE"))
	}
	f.FailureRate = rate
	if f.Latency, err = time.ParseDuration(env.Or(getenv, "FAULT_LATENCY", "0s")); err != nil || f.Latency < 0 {
		return Faults{}, fmt.Errorf("FAULT_LATENCY: want a Go duration ≥ 0 such as 200ms, got %q", getenv("FAULT_LATENCY"))
	}
	if f.Step = getenv("FAULT_STEP"); f.Step != "" && !slices.Contains(steps, f.Step) {
		return Faults{}, fmt.Errorf("FAULT_STEP: want one of %v or nothing, got %q", steps, f.Step)
	}
	return f, nil
}

// On reports whether any fault is configured.
func (f Faults) On() bool { return f.FailureRate > 0 || f.Latency > 0 || f.Step != "" }

// LogValue shows the settings in the start-up log.
func (f Faults) LogValue() slog.Value {
	return slog.GroupValue(slog.Float64("failure_rate", f.FailureRate), slog.String("latency", f.Latency.String()), slog.String("step", f.Step))
}

// Wrap injects the faults into the handler of step: first the latency,
// then a 503 for every call of the failing step and for the configured
// fraction of the others. With no fault configured it returns the handler
// as it is.
func (f Faults) Wrap(logger *slog.Logger, step string) func(http.Handler) http.Handler {
	roll, wait := f.Roll, f.Wait
	if roll == nil {
		roll = rand.Float64
	}
	if wait == nil {
		wait = sleep
	}
	return func(next http.Handler) http.Handler {
		if !f.On() {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if f.Latency > 0 {
				if err := wait(r.Context(), f.Latency); err != nil {
					web.Error(w, r, logger, apperr.Wrap(apperr.Unavailable, err, "injected latency: the call ended first"))
					return
				}
			}
			switch {
			case f.Step == step:
				web.Error(w, r, logger, apperr.E(apperr.Unavailable, "injected fault: every %s fails (FAULT_STEP)", step))
				return
			case f.FailureRate > 0 && roll() < f.FailureRate:
				web.Error(w, r, logger, apperr.E(apperr.Unavailable, "injected fault: %s failed at random (FAULT_FAILURE_RATE)", step))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
