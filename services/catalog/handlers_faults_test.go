package main

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"

	"github.com/daprshop/daprshop/internal/barrier"
	"github.com/daprshop/daprshop/internal/faults"
)

// The stock participant under load and faults: tries racing on one
// product, injected faults, the sweep.

// Many checkouts of one product at once: exactly its stock is reserved, the
// others are refused as out of stock, none fails because of the others'
// writes.
func TestConcurrentTriesOnOneProduct(t *testing.T) {
	t.Parallel()
	const tries = 200
	h := newHarness(t, faults.Faults{})
	h.res.state = yieldingState{h.state} // interleave reads and writes
	h.res.barrier = barrier.New(h.res.state, h.clock.Now)
	body := func(i int) string {
		if i%2 == 0 {
			return `{"items":[{"product_id":"mug","quantity":1}]}`
		}
		return `{"items":[{"product_id":"mug","quantity":1},{"product_id":"beans-1kg","quantity":1}]}`
	}
	codes := make([]int, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() {
			w := h.post("/reservations/"+uuid.NewString()+"/try", body(i))
			codes[i] = w.Code
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 8, http.StatusUnprocessableEntity: tries - 8}, count)
	assert.Equal(t, int64(0), h.stock(t)["mug"].Available)
	h.assertInvariant(t)
}

func TestFaults(t *testing.T) {
	t.Parallel()
	wantSleep := 300 * time.Millisecond
	tests := []struct {
		name        string
		faults      faults.Faults
		random      float64
		waitErr     error
		wantTry     int
		wantConfirm int
		wantCancel  int
		wantWaits   int
	}{
		{"off", faults.Faults{}, 0, nil, 200, 200, 200, 0},
		{"every call fails", faults.Faults{FailureRate: 1}, 0.999, nil, 503, 503, 503, 0},
		{"a draw under the rate fails", faults.Faults{FailureRate: 0.5}, 0.499, nil, 503, 503, 503, 0},
		{"a draw at or over the rate passes", faults.Faults{FailureRate: 0.5}, 0.5, nil, 200, 200, 200, 0},
		{"the confirm step fails", faults.Faults{Step: "confirm"}, 0, nil, 200, 503, 200, 0},
		{"the try step fails", faults.Faults{Step: "try"}, 0, nil, 503, 409, 200, 0},
		{"latency before each", faults.Faults{Latency: wantSleep}, 0, nil, 200, 200, 200, 3},
		{"the caller leaves during the latency", faults.Faults{Latency: wantSleep}, 0, context.Canceled, 503, 503, 503, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var waits []time.Duration
			f := tt.faults
			f.Roll = func() float64 { return tt.random }
			f.Wait = func(_ context.Context, d time.Duration) error {
				mu.Lock()
				defer mu.Unlock()
				waits = append(waits, d)
				return tt.waitErr
			}
			h := newHarness(t, f)
			// A try and a confirm of one order, a cancel of another.
			sold, other := uuid.NewString(), uuid.NewString()
			for _, s := range []struct {
				order, op string
				want      int
			}{{sold, "try", tt.wantTry}, {sold, "confirm", tt.wantConfirm}, {other, "cancel", tt.wantCancel}} {
				body := mug2
				if s.op != "try" {
					body = "" // a confirm or cancel takes no lines
				}
				w := h.post("/reservations/"+s.order+"/"+s.op, body)
				assert.Equal(t, s.want, w.Code, "%s: %s", s.op, w.Body.String())
				h.assertInvariant(t)
			}
			assert.Len(t, waits, tt.wantWaits)
			for _, d := range waits {
				assert.Equal(t, wantSleep, d)
			}
			assert.Equal(t, http.StatusOK, h.get("/stock").Code, "faults leave the reads alone")
		})
	}
}

func TestSweepUntilDone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan time.Time)
	swept := make(chan struct{})
	results := []error{errors.New("store down"), nil}
	done := make(chan struct{})
	go func() {
		defer close(done)
		i := 0
		sweepUntilDone(ctx, discard, ticks, func(context.Context) (int, error) {
			err := results[i%len(results)]
			i++
			swept <- struct{}{}
			return 1, err
		})
	}()
	for range 3 { // a failed sweep does not stop the next
		ticks <- time.Time{}
		<-swept
	}
	cancel()
	<-done // stops with its context
}
