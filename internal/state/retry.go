package state

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Retries says how often a write that lost a race is tried again, and how
// long to pause in between. A write loses only to one that committed, so
// under contention every attempt lets someone through.
type Retries struct {
	// Attempts bounds the runs in all (at least 1).
	Attempts int
	// Backoff is the pause after n lost races (nil: Backoff).
	Backoff func(n int) time.Duration
}

// Do runs attempt, which reads what it needs and writes, again on an
// ErrConflict after a pause, up to r.Attempts runs in all. Any other
// outcome is returned as it is; the last lost race is returned wrapped,
// as is the context's error when it ends during a pause.
func (r Retries) Do(ctx context.Context, attempt func(context.Context) error) error {
	backoff := r.Backoff
	if backoff == nil {
		backoff = Backoff
	}
	for n := 1; ; n++ {
		err := attempt(ctx)
		if !errors.Is(err, ErrConflict) {
			return err
		}
		if n >= r.Attempts {
			return fmt.Errorf("%d races lost: %w", n, err)
		}
		t := time.NewTimer(backoff(n))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// Backoff is the default pause after n lost races: doubling from 1 ms up to
// 50 ms, drawn from its upper half so that racers fall out of step (without
// a pause, six writers of one record on a loaded machine were seen to lose
// five times in a row).
func Backoff(n int) time.Duration {
	d := time.Millisecond << min(max(n, 1)-1, 6)
	d = min(d, 50*time.Millisecond)
	return d/2 + rand.N(d/2+1)
}
