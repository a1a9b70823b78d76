package main

import (
	"context"
	"log/slog"
	"time"
)

// sweepTimeout bounds one sweep, so that a stuck sidecar cannot stall the
// sweeper for good.
const sweepTimeout = 30 * time.Second

// sweepUntilDone calls sweep at every tick until ctx ends: it releases the
// reservations held past their expiry (those of sagas that died or stalled
// half-way), so that their units can sell again. Failures are logged and
// tried again at the next tick. Tests drive ticks by hand.
func sweepUntilDone(ctx context.Context, logger *slog.Logger, ticks <-chan time.Time, sweep func(context.Context) (int, error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
		sctx, cancel := context.WithTimeout(ctx, sweepTimeout)
		released, err := sweep(sctx)
		cancel()
		if released > 0 {
			logger.InfoContext(ctx, "expired reservations released", "count", released)
		}
		if err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "sweep of expired reservations failed; trying again at the next tick", "released", released, "error", err.Error())
		}
	}
}
