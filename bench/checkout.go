package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/daprshop/daprshop/internal/shopclient"
)

// runCheckoutSeries runs the checkout saga through the gateway of the whole
// system started on profile.
func runCheckoutSeries(ctx context.Context, cfg config, r *sagaResults, s *sagaSeries, profile string, log func(string, ...any)) error {
	shp, err := startShop(ctx, cfg, profile, "checkout-"+profile, log)
	if err != nil {
		return err
	}
	defer shp.stop()
	before, err := scrapeStateOps(ctx, shp.sys)
	if err != nil {
		log("part 2: state operation counts unavailable: %v", err)
	}
	place := func(ctx context.Context) (func(context.Context) (ended, error), error) {
		sh, it, ok := shp.pick()
		if !ok {
			return nil, fmt.Errorf("no stock or money left")
		}
		sent := time.Now()
		o, err := shp.c.PlaceOrder(ctx, sh.token, uuid.NewString(), shopclient.Line{ProductID: it.id, Quantity: 1})
		if err != nil {
			shp.audit.Unknown(1, it.price) // whether an order exists is unknown
			return nil, err
		}
		return func(ctx context.Context) (ended, error) {
			// The latency runs from the request that placed the order
			// to its last update, as the orders service recorded it.
			final, err := shp.c.AwaitFinal(ctx, sh.token, o.ID, 250*time.Millisecond)
			if err != nil {
				shp.audit.Placed(sh.token, o) // the audit waits for it
				return ended{}, err
			}
			shp.audit.Placed(sh.token, final)
			return ended{status: final.Status, latency: final.UpdatedAt.Sub(sent), at: final.UpdatedAt}, nil
		}, nil
	}
	s.procs = func() map[string]int { return systemPIDs(shp.sys) }
	readsBefore := shp.orderReads.n.Load()
	rising(ctx, s, cfg.benchtime, 256, shp.capacity, nil, place, log)
	completed := 0
	for _, st := range s.steps {
		completed += st.completed + st.cancelled
	}
	if after, err := scrapeStateOps(ctx, shp.sys); err == nil && before != nil && completed > 0 && profile == "local" {
		r.sagas = completed
		r.orderReads = float64(shp.orderReads.n.Load()-readsBefore) / float64(completed)
		for k, v := range after {
			if d := v - before[k]; d > 0 {
				f := strings.SplitN(k, "|", 3)
				r.stateOps = append(r.stateOps, stateOp{app: f[0], component: f[1], operation: f[2], perSaga: d / float64(completed)})
			}
		}
		slices.SortFunc(r.stateOps, func(a, b stateOp) int {
			return strings.Compare(a.app+a.component+a.operation, b.app+b.component+b.operation)
		})
	}
	profileStep(ctx, cfg, shp, s, place, log)
	v := shp.check(ctx)
	s.invariant = &v
	log("part 2: %s: %s", s.label, v.Summary())
	return nil
}

// profileStep runs one more step at the series' best rate while a CPU
// profile of every app and sidecar is taken over its arrivals (cpu.go).
// Its sagas are audited with the others' but counted in no figure: the
// profiler's own cost stays out of the series.
func profileStep(ctx context.Context, cfg config, shp *shop, s *sagaSeries,
	place func(context.Context) (func(context.Context) (ended, error), error), log func(string, ...any)) {
	rate := bestRate(s)
	if rate == 0 {
		s.profileNote = "no step kept up, so there is no rate to profile at"
		return
	}
	offered := int(float64(rate) * cfg.benchtime.Seconds())
	if left := shp.capacity(); left < offered {
		s.profileNote = fmt.Sprintf("stock or money was left for %d orders; a step at %d/s needs %d", left, rate, offered)
		return
	}
	dir := filepath.Join(cfg.root, ".data", "bench", "profiles", s.name)
	if err := os.RemoveAll(dir); err != nil {
		s.profileNote = err.Error()
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.profileNote = err.Error()
		return
	}
	log("part 2: %s: one more step at %d/s with CPU profiles of the apps and sidecars (into %s)", s.label, rate, dir)
	var profiles []profileTop
	done := make(chan struct{})
	go func() {
		defer close(done)
		profiles = captureProfiles(ctx, profileTargets(shp.sys), cfg.benchtime, dir)
	}()
	st := runStep(ctx, s.label+" (profiled)", rate, offered, cfg.benchtime, place, log)
	<-done
	s.profiled, s.profiles, s.profileDir = &st, profiles, dir
	if rel, err := filepath.Rel(cfg.root, dir); err == nil {
		s.profileDir = rel // as the report names it: from the repository's root
	}
}

// bestRate is the highest arrival rate of a step that kept up: no
// failure, p99 within bounds, throughput at 80% of the rate or more.
func bestRate(s *sagaSeries) int {
	if st := bestStep(s); st != nil {
		return st.rate
	}
	return 0
}

// bestStep is the step of bestRate (nil: none kept up).
func bestStep(s *sagaSeries) *sagaStep {
	var best *sagaStep
	for i, st := range s.steps {
		if st.failed == 0 && st.completed > 0 && st.p99 <= maxSagaP99 && st.tput >= 0.8*float64(st.rate) && (best == nil || st.rate > best.rate) {
			best = &s.steps[i]
		}
	}
	return best
}
