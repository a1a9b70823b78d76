package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/daprshop/daprshop/internal/launcher"
	"github.com/daprshop/daprshop/internal/shopclient"
)

// The systems the saga series run on, driven through the shop's one Go
// client (internal/shopclient), which the end-to-end tests use too, and
// audited by its invariant checker.

// shopper is a registered user with a funded wallet; budget is what the
// series has not yet spent of it.
type shopper struct {
	id, token string
	budget    int64
}

// stockItem is what the load spreads over: the cheap items with the most
// stock, so that a run completes rather than sells out.
type stockItem struct {
	id    string
	price int64
	left  int64
}

// shop is a running system with registered, funded shoppers, and the
// audit of what its sagas move.
type shop struct {
	sys   *launcher.System
	c     *shopclient.Client
	audit *shopclient.Audit
	// pick takes a product with stock left and a shopper who can pay it.
	pick func() (shopper, stockItem, bool)
	// capacity is how many more one-unit orders the stock and money allow.
	capacity func() int
	stop     func()
	// orderReads counts the reads of one order through the gateway (the
	// latency polling), each one get of orders' store.
	orderReads *countingTransport
}

// countingTransport counts the GET requests of one order it carries.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/orders/"); ok && r.Method == http.MethodGet && rest != "" && !strings.Contains(rest, "/") {
		t.n.Add(1)
	}
	return t.next.RoundTrip(r)
}

// check waits for the sagas the audit knows of to end (a minute at most:
// the series drained already) and holds the books against them.
func (sh *shop) check(ctx context.Context) shopclient.Verdict {
	return sh.audit.Check(ctx, time.Minute)
}

// startShop starts the whole system on profile afresh (seeded stock) and
// registers 32 shoppers with funded wallets (3.2 times the money the
// cheap products' stock costs, so that stock is what runs out).
func startShop(ctx context.Context, cfg config, profile, name string, log func(string, ...any)) (*shop, error) {
	logPath := filepath.Join(os.TempDir(), "daprshop-bench-system-"+name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	log("part 2: starting the system on the %s profile for the %s series (its log: %s)", profile, name, logPath)
	sys, err := launcher.Start(ctx, launcher.Config{
		RunFile: filepath.Join(cfg.root, "dapr", "dapr.yaml"), Profile: profile, RootDir: cfg.root,
		Output: logFile, Fresh: true, ReadyTimeout: 3 * time.Minute,
		// The sidecars serve pprof (idle until a profile is taken), for
		// the checkout series' profiles (cpu.go).
		Profiling: true,
	})
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start the system: %w", err)
	}
	var once sync.Once
	sh := &shop{sys: sys}
	sh.stop = func() { once.Do(func() { sys.Stop(); logFile.Close() }) }
	ok := false
	defer func() {
		if !ok {
			sh.stop()
		}
	}()
	sh.orderReads = &countingTransport{next: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}
	c, apps, err := shopclient.ForSystem(sys, &http.Client{Timeout: 30 * time.Second, Transport: sh.orderReads})
	if err != nil {
		return nil, err
	}
	if err := apps.AwaitReady(ctx, 2*time.Minute); err != nil {
		return nil, err
	}
	stock, err := cheapStock(ctx, c)
	if err != nil {
		return nil, err
	}
	shoppers, err := makeShoppers(ctx, c, 32)
	if err != nil {
		return nil, err
	}
	log("part 2: %d shoppers registered, wallets funded", len(shoppers))
	audited := make([]shopclient.Shopper, len(shoppers))
	for i, s := range shoppers {
		audited[i] = shopclient.Shopper{ID: s.id, Token: s.token}
	}
	if sh.audit, err = shopclient.Open(ctx, c, apps, audited...); err != nil {
		return nil, err
	}

	var mu sync.Mutex
	next := 0
	sh.pick = func() (shopper, stockItem, bool) {
		mu.Lock()
		defer mu.Unlock()
		// The product with the most units left: the load spreads over
		// the products instead of queueing on one.
		slices.SortStableFunc(stock, func(a, b stockItem) int { return int(b.left - a.left) })
		for i := range stock {
			if stock[i].left <= 0 {
				continue
			}
			for range shoppers {
				who := &shoppers[next%len(shoppers)]
				next++
				if who.budget >= stock[i].price {
					who.budget -= stock[i].price
					stock[i].left--
					return *who, stock[i], true
				}
			}
		}
		return shopper{}, stockItem{}, false
	}
	sh.capacity = func() int {
		mu.Lock()
		defer mu.Unlock()
		var units, money int64
		for _, it := range stock {
			units += max(it.left, 0)
		}
		for _, sh := range shoppers {
			money += sh.budget
		}
		return int(min(units, money/2450))
	}
	sh.c = c
	ok = true
	return sh, nil
}

// cheapStock is the products the load buys: up to 25.00 and at least 50
// units, most units first.
func cheapStock(ctx context.Context, c *shopclient.Client) ([]stockItem, error) {
	products, err := c.Products(ctx)
	if err != nil {
		return nil, err
	}
	var items []stockItem
	for _, p := range products {
		if p.PriceCents <= 2500 && p.Available >= 50 {
			items = append(items, stockItem{id: p.ID, price: p.PriceCents, left: p.Available})
		}
	}
	slices.SortFunc(items, func(a, b stockItem) int { return int(b.left - a.left) })
	return items, nil
}

// makeShoppers registers n users, logs each in and waits for their
// wallets to be funded (payments opens one on user.registered).
func makeShoppers(ctx context.Context, c *shopclient.Client, n int) ([]shopper, error) {
	var out []shopper
	for i := range n {
		email := fmt.Sprintf("bench-%d-%s@example.com", i, uuid.NewString()[:8])
		const password = "benchmark password 1"
		var u shopclient.User
		if err := retry(ctx, func() (err error) { u, err = c.Register(ctx, email, "Bench", password); return err }); err != nil {
			return nil, err
		}
		var sess shopclient.Session
		if err := retry(ctx, func() (err error) { sess, err = c.Login(ctx, email, password); return err }); err != nil {
			return nil, err
		}
		out = append(out, shopper{id: u.ID, token: sess.Token})
	}
	for i := range out {
		if err := retry(ctx, func() error {
			bal, err := c.Wallet(ctx, out[i].token)
			if err == nil && bal == 0 {
				err = fmt.Errorf("wallet of %s not funded", out[i].id)
			}
			out[i].budget = bal
			return err
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// retry polls f for up to a minute (the system settles after start: a
// wallet is opened when payments consumes user.registered).
func retry(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
