package main

import (
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

// The steps faults can be injected into.
const (
	stepCharge = "charge"
	stepRefund = "refund"
)

// faults make charges and refunds slow or failing on purpose, so that the
// checkout saga's retries and compensations can be watched at work. They are
// off unless configured, and an injected failure happens before anything is
// read or written, like a dependency that is down.
type faults struct {
	failureRate float64        // the fraction of calls answered 503
	latency     time.Duration  // added before every call
	step        string         // stepCharge or stepRefund: every call of it is answered 503
	roll        func() float64 // draws from [0, 1)
}

// parseFaults reads FAULT_FAILURE_RATE, FAULT_LATENCY and FAULT_STEP.
func parseFaults(getenv func(string) string) (faults, error) {
	f := faults{roll: rand.Float64}
	rate, err := strconv.ParseFloat(env.Or(getenv, "FAULT_FAILURE_RATE", "0"), 64)
	if err != nil || !(rate >= 0 && rate <= 1) { // NaN fails both
		return faults{}, fmt.Errorf("FAULT_FAILURE_RATE: want a fraction from 0 to 1 such as 0.2, got %q", getenv("FAULT_FAILURE_RATE"))
	}
	f.failureRate = rate
	if f.latency, err = time.ParseDuration(env.Or(getenv, "FAULT_LATENCY", "0s")); err != nil || f.latency < 0 {
		return faults{}, fmt.Errorf("FAULT_LATENCY: want a Go duration ≥ 0 such as 200ms, got %q", getenv("FAULT_LATENCY"))
	}
	switch f.step = getenv("FAULT_STEP"); f.step {
	case "", stepCharge, stepRefund:
	default:
		return faults{}, fmt.Errorf("FAULT_STEP: want %s or %s (or nothing), got %q", stepCharge, stepRefund, f.step)
	}
	return f, nil
}

// on reports whether any fault is configured.
func (f faults) on() bool { return f.failureRate > 0 || f.latency > 0 || f.step != "" }

// LogValue shows the settings in the start-up log.
func (f faults) LogValue() slog.Value {
	return slog.GroupValue(slog.Float64("failure_rate", f.failureRate), slog.String("latency", f.latency.String()), slog.String("step", f.step))
}

// wrap injects the faults into the handler of step: first the latency,
// then a 503 for every call of the failing step and for the configured
// fraction of the others.
func (f faults) wrap(logger *slog.Logger, step string, next http.Handler) http.Handler {
	if !f.on() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.latency > 0 {
			t := time.NewTimer(f.latency)
			select {
			case <-r.Context().Done():
				t.Stop()
				web.Error(w, r, logger, apperr.Wrap(apperr.Unavailable, r.Context().Err(), "injected latency: the call ended first"))
				return
			case <-t.C:
			}
		}
		switch {
		case f.step == step:
			web.Error(w, r, logger, apperr.E(apperr.Unavailable, "injected fault: every %s fails (FAULT_STEP)", step))
			return
		case f.failureRate > 0 && f.roll() < f.failureRate:
			web.Error(w, r, logger, apperr.E(apperr.Unavailable, "injected fault: %s failed at random (FAULT_FAILURE_RATE)", step))
			return
		}
		next.ServeHTTP(w, r)
	})
}
