package main

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// seedProducts is the catalog every system starts with. Seeding is
// insert-only, so editing an entry here changes nothing for a product
// already stored: remove .data/ (make clean-data) to start over. The stock
// levels are chosen for the saga tests: the burr grinder and the espresso
// machine run out after a few orders, the Geisha beans are sold out from the
// start, and the 20 kettles meet 200 checkouts at once.
//
//	id                            name                                 price_cents  stock
//	burr-grinder                  Conical Burr Grinder                        8990      3
//	ceramic-mug-350ml             Ceramic Mug, 350 ml                         1200     80
//	digital-scale                 Digital Coffee Scale                        2990     30
//	espresso-beans-1kg            Espresso Beans, 1 kg                        2450    120
//	espresso-machine              Dual-Boiler Espresso Machine              129900      2
//	filter-coffee-500g            Filter Coffee, 500 g                        1290    200
//	french-press-1l               French Press, 1 l                           3490     25
//	gooseneck-kettle              Gooseneck Kettle, 0.9 l                     5990     20
//	limited-edition-geisha-250g   Limited Edition Geisha Beans, 250 g         4990      0
//	paper-filters-100             Paper Filters, pack of 100                   590    500
//	pour-over-dripper             Ceramic Pour-Over Dripper                   2190     40
//	travel-tumbler                Insulated Travel Tumbler, 470 ml            2490     60
var seedProducts = []Product{
	{ID: "burr-grinder", Name: "Conical Burr Grinder", PriceCents: 8990, Stock: Stock{Available: 3}},
	{ID: "ceramic-mug-350ml", Name: "Ceramic Mug, 350 ml", PriceCents: 1200, Stock: Stock{Available: 80}},
	{ID: "digital-scale", Name: "Digital Coffee Scale", PriceCents: 2990, Stock: Stock{Available: 30}},
	{ID: "espresso-beans-1kg", Name: "Espresso Beans, 1 kg", PriceCents: 2450, Stock: Stock{Available: 120}},
	{ID: "espresso-machine", Name: "Dual-Boiler Espresso Machine", PriceCents: 129900, Stock: Stock{Available: 2}},
	{ID: "filter-coffee-500g", Name: "Filter Coffee, 500 g", PriceCents: 1290, Stock: Stock{Available: 200}},
	{ID: "french-press-1l", Name: "French Press, 1 l", PriceCents: 3490, Stock: Stock{Available: 25}},
	{ID: "gooseneck-kettle", Name: "Gooseneck Kettle, 0.9 l", PriceCents: 5990, Stock: Stock{Available: 20}},
	{ID: "limited-edition-geisha-250g", Name: "Limited Edition Geisha Beans, 250 g", PriceCents: 4990, Stock: Stock{Available: 0}},
	{ID: "paper-filters-100", Name: "Paper Filters, pack of 100", PriceCents: 590, Stock: Stock{Available: 500}},
	{ID: "pour-over-dripper", Name: "Ceramic Pour-Over Dripper", PriceCents: 2190, Stock: Stock{Available: 40}},
	{ID: "travel-tumbler", Name: "Insulated Travel Tumbler, 470 ml", PriceCents: 2490, Stock: Stock{Available: 60}},
}

// seedAttemptTimeout bounds one attempt, so that a sidecar that accepts the
// connection but never answers does not stall seeding for good.
const seedAttemptTimeout = 10 * time.Second

// seedUntilDone seeds the catalog, waiting backoff(attempt) after each
// failed attempt, until it succeeds or ctx ends. It runs in the background
// from start-up: daprd may come up after the app, and the app must answer
// its health checks meanwhile for daprd to finish starting.
func seedUntilDone(ctx context.Context, logger *slog.Logger, svc *service, products []Product, backoff func(attempt int) time.Duration) error {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, seedAttemptTimeout)
		err := svc.Seed(actx, products)
		cancel()
		if err == nil {
			logger.InfoContext(ctx, "catalog seeded", "products", len(products), "attempts", attempt)
			return nil
		}
		wait := backoff(attempt)
		logger.WarnContext(ctx, "seed failed; trying again", "attempt", attempt, "retry_in", wait.String(), "error", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// seedBackoff doubles from 100ms up to 5s, with jitter so that instances
// started together do not retry in step.
func seedBackoff(attempt int) time.Duration {
	d := 5 * time.Second
	if attempt < 7 {
		d = 100 * time.Millisecond << (max(attempt, 1) - 1)
	}
	return d/2 + rand.N(d/2+1)
}
