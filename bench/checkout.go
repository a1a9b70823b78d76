package main

import (
	"context"
	"fmt"
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
	rising(ctx, s, cfg.benchtime, 256, shp.capacity, nil, func(ctx context.Context) (func(context.Context) (ended, error), error) {
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
	}, log)
	completed := 0
	for _, st := range s.steps {
		completed += st.completed + st.cancelled
	}
	if after, err := scrapeStateOps(ctx, shp.sys); err == nil && before != nil && completed > 0 && profile == "local" {
		r.sagas = completed
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
	v := shp.check(ctx)
	s.invariant = &v
	log("part 2: %s: %s", s.label, v.Summary())
	return nil
}
