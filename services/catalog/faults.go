package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/env"
	"github.com/daprshop/daprshop/internal/web"
)

// faults make the saga's steps on the catalog fail or slow down on purpose,
// so that tests and demos can watch the saga retry and compensate. They are
// off unless configured.
type faults struct {
	rate    float64       // the fraction of calls answered 503
	latency time.Duration // added before every call
	step    string        // try, confirm or cancel: that step always answers 503
	// random returns a number in [0, 1); wait pauses for d or until ctx
	// ends. Tests replace both.
	random func() float64
	wait   func(ctx context.Context, d time.Duration) error
}

// The steps of the saga that faults can hit, named as in the routes.
var faultSteps = []string{"try", "confirm", "cancel"}

// parseFaults reads FAULT_FAILURE_RATE (0 to 1), FAULT_LATENCY (a Go
// duration ≥ 0) and FAULT_STEP (try, confirm or cancel), each off when unset.
func parseFaults(getenv func(string) string) (faults, error) {
	f := faults{random: rand.Float64, wait: sleep}
	rate, err := strconv.ParseFloat(env.Or(getenv, "FAULT_FAILURE_RATE", "0"), 64)
	if err != nil || !(rate >= 0 && rate <= 1) { // NaN fails both
		return faults{}, fmt.Errorf("FAULT_FAILURE_RATE: want a fraction from 0 to 1 such as 0.2, got %q", getenv("FAULT_FAILURE_RATE"))
	}
	f.rate = rate
	if f.latency, err = time.ParseDuration(env.Or(getenv, "FAULT_LATENCY", "0s")); err != nil || f.latency < 0 {
		return faults{}, fmt.Errorf("FAULT_LATENCY: want a Go duration ≥ 0 such as 200ms, got %q", getenv("FAULT_LATENCY"))
	}
	switch f.step = getenv("FAULT_STEP"); f.step {
	case "", "try", "confirm", "cancel":
	default:
		return faults{}, fmt.Errorf("FAULT_STEP: want one of %v or nothing, got %q", faultSteps, f.step)
	}
	return f, nil
}

// errInjected is the cause of every failure made on purpose.
var errInjected = apperr.E(apperr.Unavailable, "injected fault")

// inject wraps the handler of step: it waits the latency, then answers 503
// for the configured step and for the configured fraction of calls, before
// the handler does anything.
func (f faults) inject(logger *slog.Logger, step string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if f.rate == 0 && f.latency == 0 && f.step == "" {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if f.latency > 0 {
				if err := f.wait(r.Context(), f.latency); err != nil {
					web.Error(w, r, logger, apperr.Wrap(apperr.Unavailable, err, "the request ended during the injected latency"))
					return
				}
			}
			if f.step == step || (f.rate > 0 && f.random() < f.rate) {
				web.Error(w, r, logger, apperr.Wrap(apperr.Unavailable, errInjected, "injected fault: the %s step failed on purpose (FAULT_STEP, FAULT_FAILURE_RATE)", step))
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
