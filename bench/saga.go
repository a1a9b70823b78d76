package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/daprshop/daprshop/internal/launcher"
	"github.com/daprshop/daprshop/internal/proc"
)

// Part 2: the checkout saga (services/orders, Dapr Workflow) at rising
// arrival rates, through the gateway of the whole local system started by
// the launcher, next to the same workflow with no-op activities on a
// sidecar of its own (the engine's ceiling on this machine), and the same
// participant calls run by DTM (dtm.go).

// sagaStep is one arrival rate of a series.
type sagaStep struct {
	rate                         int
	offered, accepted            int
	completed, cancelled, failed int // failed: not final within the drain time
	tput                         float64
	p50, p90, p99                time.Duration
	note                         string // how the step differed (a fresh system, shortened)
	stop                         string // why the series stopped here
}

type sagaSeries struct {
	name, label string
	steps       []sagaStep
	err         error
	note        string
	skipped     string // why the series was not run
	// invariant is the stock and money check of the systems the series
	// ran on, after its sagas ended (nil: not checked).
	invariant *invariant
	source    string // where the series' servers came from, for the report
}

type sagaResults struct {
	series   []*sagaSeries
	stepDur  time.Duration
	stateOps []stateOp // per completed saga, real saga only
	sagas    int       // completed sagas the counts are divided by
	// dtmVersion is the DTM release tools/dtm pins.
	dtmVersion string
}

type stateOp struct {
	app, component, operation string
	perSaga                   float64
}

// maxSagaP99 ends a series: past it the rate is not sustainable.
const maxSagaP99 = 2 * time.Second

// ended is one saga's outcome.
type ended struct {
	status  string
	latency time.Duration
	at      time.Time
}

// rising runs arrivals at 2, 4, 8, ... per second for stepDur each, until
// p99 passes maxSagaP99, throughput falls below 80% of the arrival rate
// (the backlog grows), sagas do not end, or capacity (how many sagas may
// still be started) runs out. start starts one saga and returns a function
// that waits for its end. refill, when not nil, replaces the system by a
// fresh one (its seeded stock) when capacity is short of the next step; a
// step that even a fresh system's stock cannot hold whole, but half of it,
// is shortened to the stock.
func rising(ctx context.Context, s *sagaSeries, stepDur time.Duration, maxRate int, capacity func() int, refill func() error,
	start func(ctx context.Context) (wait func(context.Context) (ended, error), err error), log func(string, ...any)) {
	rates := []int{}
	refined := false
	for rate := 2; rate <= maxRate; rate *= 2 {
		rates = append(rates, rate)
	}
	for i := 0; i < len(rates); i++ {
		rate := rates[i]
		offered := int(float64(rate) * stepDur.Seconds())
		note := ""
		if capacity != nil && capacity() < offered && refill != nil {
			if err := refill(); err != nil {
				if len(s.steps) > 0 {
					s.steps[len(s.steps)-1].stop = "a fresh system for the next step did not start: " + strings.ReplaceAll(oneLine(err), "|", "/")
				}
				return
			}
			note = "on a fresh system (the last one's stock ran short)"
		}
		if capacity != nil && capacity() < offered {
			left := capacity()
			if refill == nil || left < offered/2 {
				if len(s.steps) > 0 {
					why := fmt.Sprintf("stock or money left for fewer than %d more orders", offered)
					if refill != nil {
						why = fmt.Sprintf("even a fresh system's stock holds fewer than half of the next step's %d orders", offered)
					}
					s.steps[len(s.steps)-1].stop = why
				}
				return
			}
			note += fmt.Sprintf("; shortened to %.2f s (%d orders: the whole stock)", float64(left)/float64(rate), left)
			offered = left
		}
		st := sagaStep{rate: rate, note: strings.TrimPrefix(note, "; ")}
		var mu sync.Mutex
		var firstErr error
		var waits []func(context.Context) (ended, error)
		var wg sync.WaitGroup
		began := time.Now()
		pacer := vegeta.ConstantPacer{Freq: rate, Per: time.Second}
		for hits := uint64(0); ; hits++ {
			wait, stop := pacer.Pace(time.Since(began), hits)
			if stop || int(hits) >= offered {
				break
			}
			if wait > 0 {
				<-time.After(wait) // pacing the open loop
			}
			st.offered++
			wg.Go(func() {
				w, err := start(ctx)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					st.failed++
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				st.accepted++
				waits = append(waits, w)
			})
		}
		wg.Wait()
		drainCtx, cancel := context.WithTimeout(ctx, 60*time.Second+stepDur)
		var lat []time.Duration
		var last time.Time
		for _, w := range waits {
			e, err := w(drainCtx)
			switch {
			case err != nil:
				st.failed++
				if firstErr == nil {
					firstErr = err
				}
				continue
			case e.status == "completed":
				st.completed++
			default:
				st.cancelled++
			}
			lat = append(lat, e.latency)
			if e.at.After(last) {
				last = e.at
			}
		}
		cancel()
		if !last.IsZero() {
			st.tput = float64(st.completed) / last.Sub(began).Seconds()
		}
		st.p50, st.p90, st.p99 = percentile(lat, 0.5), percentile(lat, 0.9), percentile(lat, 0.99)
		log("part 2: %-28s %3d/s offered %d accepted %d completed %d cancelled %d unfinished/failed %d: %.1f sagas/s p50 %s p99 %s",
			s.label, rate, st.offered, st.accepted, st.completed, st.cancelled, st.failed, st.tput, st.p50, st.p99)
		switch {
		case st.failed > 0:
			st.stop = fmt.Sprintf("%d sagas failed to start or did not end within %s; the first: %s", st.failed, 60*time.Second+stepDur,
				strings.ReplaceAll(oneLine(firstErr), "|", "/"))
		case st.p99 > maxSagaP99:
			st.stop = "p99 passed 2 s"
		case st.tput < 0.8*float64(rate):
			st.stop = "throughput below 80% of the arrival rate: the backlog grows"
		}
		if st.stop == "" && i == len(rates)-1 && !refined {
			st.stop = "the highest rate of the run"
		}
		s.steps = append(s.steps, st)
		if st.stop != "" {
			// One more step between the last good rate and this one, so
			// that the best figure is not only a power of two.
			if rate >= 8 && !refined {
				refined = true
				rates = append(rates[:i+1], rate*3/4)
				continue
			}
			return
		}
	}
}

func runSaga(ctx context.Context, cfg config, log func(string, ...any)) (*sagaResults, error) {
	r := &sagaResults{stepDur: cfg.benchtime, dtmVersion: "(version unknown)"}
	if b, err := os.ReadFile(filepath.Join(cfg.root, "tools", "dtm", "go.mod")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(l), "require "))
			if len(f) >= 2 && f[0] == "github.com/dtm-labs/dtm" {
				r.dtmVersion = f[1]
			}
		}
	}
	noop := &sagaSeries{name: "noop", label: "no-op workflow (ceiling)"}
	r.series = append(r.series, noop)
	noop.err = runNoopSeries(ctx, cfg, noop, log)

	local := &sagaSeries{name: "local", label: "checkout saga, local profile"}
	r.series = append(r.series, local)
	local.err = runCheckoutSeries(ctx, cfg, r, local, "local", log)

	redis := &sagaSeries{name: "redis", label: "checkout saga, redis profile"}
	r.series = append(r.series, redis)
	if stop, source, why := ensureRedis(cfg, log); why != "" {
		redis.skipped = why
		log("part 2: the redis series is skipped: %s", why)
	} else {
		redis.source = source
		redis.err = runCheckoutSeries(ctx, cfg, r, redis, "redis", log)
		stop()
	}

	dtm := &sagaSeries{name: "dtm", label: "same participant calls by DTM"}
	r.series = append(r.series, dtm)
	switch {
	case !fileExists(filepath.Join(cfg.bin, "dtm")):
		dtm.err = fmt.Errorf("%s missing: `make tools-bench` builds it", filepath.Join(cfg.bin, "dtm"))
	case !onlyLoopback():
		dtm.err = fmt.Errorf("DTM's server listens on every interface, and this run is not in a private network namespace (make bench runs it in one with unshare; BENCH_NETNS=0 leaves DTM out)")
	default:
		// DTM gets systems of its own, afresh: the same stock to sell.
		dtm.err = runDTMSeries(ctx, cfg, dtm, log)
	}
	return r, nil
}

// redisAddr is where the redis profile's components find Redis
// (components/redis/*.yaml).
const redisAddr = "127.0.0.1:6379"

// redisAnswers reports whether a Redis server answers PING at redisAddr.
func redisAnswers() bool {
	c, err := net.DialTimeout("tcp", redisAddr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	b := make([]byte, 7)
	n, _ := io.ReadAtLeast(c, b, 5)
	return strings.HasPrefix(string(b[:n]), "+PONG")
}

// ensureRedis finds the Redis server the redis profile needs on
// 127.0.0.1:6379. In the private network namespace `make bench` runs in,
// the machine's Redis is out of reach and the port is free: a
// redis-server of the namespace's own is started there (no persistence),
// and stop ends it. why says why there is none.
func ensureRedis(cfg config, log func(string, ...any)) (stop func(), source, why string) {
	if redisAnswers() {
		return func() {}, "the machine's Redis server on " + redisAddr + " (database 3, flushed by `components/redis/reset` when the system starts)", ""
	}
	if !onlyLoopback() {
		return nil, "", "no Redis server answers on " + redisAddr
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", "no Redis server answers on " + redisAddr + " inside the benchmark's private network namespace, and no redis-server binary is on PATH to start one there"
	}
	dir, err := os.MkdirTemp("", "bench-redis-")
	if err != nil {
		return nil, "", err.Error()
	}
	p, err := startChild(proc.Spec{
		Name: "redis-server", Path: bin, Dir: dir,
		Args:  []string{"--bind", "127.0.0.1", "--port", "6379", "--save", "", "--appendonly", "no", "--dir", dir},
		Ready: proc.TCP(redisAddr),
	}, 15*time.Second)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", "a redis-server started inside the benchmark's private network namespace did not become ready: " + err.Error()
	}
	stop = func() { p.stop(); os.RemoveAll(dir) }
	version := ""
	if out, err := exec.Command(bin, "--version").Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) >= 3 {
			version = " " + strings.TrimPrefix(f[2], "v=")
		}
	}
	log("part 2: started redis-server%s on %s inside the private network namespace", version, redisAddr)
	return stop, fmt.Sprintf("a redis-server%s (`%s`, the machine's) started by the benchmark on %s inside its private network namespace, where the machine's Redis is out of reach; no persistence (`--save \"\" --appendonly no`), as the CI machine runs it", version, bin, redisAddr), ""
}

// gatewayClient drives the system through its gateway.
type gatewayClient struct {
	base string
	hc   *http.Client
}

func (g *gatewayClient) do(ctx context.Context, method, path, token string, body any, header map[string]string) (int, []byte, error) {
	var in io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, in)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

type shopper struct {
	id, token string
	budget    int64
	funded    int64 // the wallet's balance when the series began
}

// product is what the load spreads over: the cheap items with the most
// stock, so that a run completes rather than sells out.
type stockItem struct {
	id    string
	price int64
	left  int64
}

// runCheckoutSeries runs the checkout saga through the gateway of the whole
// system started on profile.
func runCheckoutSeries(ctx context.Context, cfg config, r *sagaResults, s *sagaSeries, profile string, log func(string, ...any)) error {
	shp, err := startShop(ctx, cfg, profile, "checkout-"+profile, log)
	if err != nil {
		return err
	}
	defer shp.stop()
	sys, g := shp.sys, shp.g
	before, err := scrapeStateOps(ctx, sys)
	if err != nil {
		log("part 2: state operation counts unavailable: %v", err)
	}
	rising(ctx, s, cfg.benchtime, 256, shp.capacity, nil, func(ctx context.Context) (func(context.Context) (ended, error), error) {
		sh, it, ok := shp.pick()
		if !ok {
			return nil, fmt.Errorf("no stock or money left")
		}
		sent := time.Now()
		status, b, err := g.do(ctx, http.MethodPost, "/api/v1/orders", sh.token,
			map[string]any{"items": []map[string]any{{"product_id": it.id, "quantity": 1}}},
			map[string]string{"Idempotency-Key": uuid.NewString()})
		if err == nil && status != http.StatusAccepted {
			err = fmt.Errorf("place order: %d %s", status, b)
		}
		var o struct {
			ID string `json:"id"`
		}
		if err == nil {
			err = json.Unmarshal(b, &o)
		}
		if err != nil {
			shp.record(it, "") // whether an order exists is unknown
			return nil, err
		}
		return func(ctx context.Context) (ended, error) {
			e, err := awaitOrder(ctx, g, sh.token, o.ID, sent)
			shp.record(it, e.status)
			return e, err
		}, nil
	}, log)
	completed := 0
	for _, st := range s.steps {
		completed += st.completed + st.cancelled
	}
	if after, err := scrapeStateOps(ctx, sys); err == nil && before != nil && completed > 0 && profile == "local" {
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
	inv := shp.audit(ctx)
	s.invariant = &inv
	log("part 2: %s: %s", s.label, inv.summary())
	return nil
}

// shop is a running system with registered, funded shoppers.
type shop struct {
	sys      *launcher.System
	g        *gatewayClient
	shoppers []shopper
	// stocked is every product's available units when the series began.
	stocked map[string]int64
	// pick takes a product with stock left and a shopper who can pay it.
	pick func() (shopper, stockItem, bool)
	// capacity is how many more one-unit orders the stock and money allow.
	capacity func() int
	stop     func()

	mu     sync.Mutex
	ledger invariant // what the sagas' outcomes say should have moved
}

// record notes one saga's outcome as its runner saw it: "completed",
// "cancelled", or "" when unknown (not final, or failed to start).
func (sh *shop) record(it stockItem, status string) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	switch status {
	case "completed":
		sh.ledger.completed++
		sh.ledger.unitsWant++
		sh.ledger.moneyWant += it.price
	case "":
		sh.ledger.unknown++
		sh.ledger.moneyUnknown += it.price
	default:
		sh.ledger.cancelled++
	}
}

// invariant compares what the sagas' outcomes say (completed orders: one
// unit sold and its price charged each; cancelled: nothing) with the units
// gone from the catalog's available stock and the money gone from the
// shoppers' wallets, both read through the gateway after the sagas ended.
type invariant struct {
	completed, cancelled, unknown int
	unitsWant, unitsGone          int64
	moneyWant, moneyGone          int64
	moneyUnknown                  int64 // the prices of the sagas of unknown outcome
	systems                       int
	err                           error
}

func (a *invariant) add(b invariant) {
	a.completed += b.completed
	a.cancelled += b.cancelled
	a.unknown += b.unknown
	a.unitsWant += b.unitsWant
	a.unitsGone += b.unitsGone
	a.moneyWant += b.moneyWant
	a.moneyGone += b.moneyGone
	a.moneyUnknown += b.moneyUnknown
	a.systems += b.systems
	if a.err == nil {
		a.err = b.err
	}
}

func (a invariant) held() bool {
	return a.err == nil && a.unknown == 0 && a.unitsGone == a.unitsWant && a.moneyGone == a.moneyWant
}

// broken reports a difference that no outcome of the sagas of unknown
// outcome explains: each of them may have sold its unit and kept its
// price, or not.
func (a invariant) broken() bool {
	return a.err == nil && (a.unitsGone < a.unitsWant || a.unitsGone > a.unitsWant+int64(a.unknown) ||
		a.moneyGone < a.moneyWant || a.moneyGone > a.moneyWant+a.moneyUnknown)
}

func (a invariant) summary() string {
	if a.err != nil {
		return "not checked: " + oneLine(a.err)
	}
	verdict := "**held**"
	switch {
	case a.broken():
		verdict = "**broken**"
	case a.unknown > 0:
		verdict = "inconclusive (within what the sagas of unknown outcome could explain)"
	}
	unknown := ""
	if a.unknown > 0 {
		unknown = fmt.Sprintf(", up to %d and %.2f more if the sagas of unknown outcome completed", a.unknown, float64(a.moneyUnknown)/100)
	}
	return fmt.Sprintf("%s: %d sagas completed, %d cancelled, %d of unknown outcome; units gone from the catalog's available stock %d (expected from the completed sagas: %d); money gone from the wallets %.2f (expected: %.2f)%s",
		verdict, a.completed, a.cancelled, a.unknown, a.unitsGone, a.unitsWant, float64(a.moneyGone)/100, float64(a.moneyWant)/100, unknown)
}

// audit waits for the catalog's cache to expire and checks the invariant.
func (sh *shop) audit(ctx context.Context) invariant {
	sh.mu.Lock()
	out := sh.ledger
	sh.mu.Unlock()
	out.systems = 1
	select {
	case <-ctx.Done():
		out.err = ctx.Err()
		return out
	case <-time.After(5 * time.Second): // past the catalog's 2 s cache TTL and the last events
	}
	now, err := readAvailable(ctx, sh.g)
	if err != nil {
		out.err = err
		return out
	}
	for id, n := range sh.stocked {
		out.unitsGone += n - now[id]
	}
	for _, s := range sh.shoppers {
		bal, err := walletBalance(ctx, sh.g, s.token)
		if err != nil {
			out.err = err
			return out
		}
		out.moneyGone += s.funded - bal
	}
	return out
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
	gw, _ := sys.App("gateway")
	g := &gatewayClient{base: "http://127.0.0.1:" + strconv.Itoa(gw.AppPort), hc: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}}
	for _, id := range []string{"gateway", "users", "catalog", "orders", "payments", "notifications"} {
		a, _ := sys.App(id)
		if err := pollOK(ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", a.AppPort), 2*time.Minute); err != nil {
			return nil, fmt.Errorf("%s not ready: %w", id, err)
		}
	}
	stock, err := readStock(ctx, g)
	if err != nil {
		return nil, err
	}
	if sh.stocked, err = readAvailable(ctx, g); err != nil {
		return nil, err
	}
	shoppers, err := makeShoppers(ctx, g, 32)
	if err != nil {
		return nil, err
	}
	log("part 2: %d shoppers registered, wallets funded", len(shoppers))

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
	sh.g, sh.shoppers = g, shoppers
	ok = true
	return sh, nil
}

// readAvailable reads every product's available units through the gateway.
func readAvailable(ctx context.Context, g *gatewayClient) (map[string]int64, error) {
	status, b, err := g.do(ctx, http.MethodGet, "/api/v1/products?limit=100", "", nil, nil)
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("list products: %d %s %v", status, b, err)
	}
	var page struct {
		Items []struct {
			ID        string `json:"id"`
			Available int64  `json:"available"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return nil, err
	}
	if page.NextCursor != "" {
		return nil, fmt.Errorf("list products: more than one page")
	}
	out := map[string]int64{}
	for _, p := range page.Items {
		out[p.ID] = p.Available
	}
	return out, nil
}

func walletBalance(ctx context.Context, g *gatewayClient, token string) (int64, error) {
	status, b, err := g.do(ctx, http.MethodGet, "/api/v1/wallet", token, nil, nil)
	var w struct {
		Balance int64 `json:"balance_cents"`
	}
	if err == nil && status == http.StatusOK {
		err = json.Unmarshal(b, &w)
	} else if err == nil {
		err = fmt.Errorf("wallet: %d %s", status, b)
	}
	return w.Balance, err
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// awaitOrder polls one order until its saga ended, and returns its
// latency: from the request that placed it to the order's last update,
// as the orders service recorded it.
func awaitOrder(ctx context.Context, g *gatewayClient, token, id string, sent time.Time) (ended, error) {
	for {
		status, b, err := g.do(ctx, http.MethodGet, "/api/v1/orders/"+id, token, nil, nil)
		if err == nil && status == http.StatusOK {
			var o struct {
				Status    string    `json:"status"`
				UpdatedAt time.Time `json:"updated_at"`
			}
			if err := json.Unmarshal(b, &o); err == nil && o.Status != "pending" {
				return ended{status: o.Status, latency: o.UpdatedAt.Sub(sent), at: o.UpdatedAt}, nil
			}
		}
		select {
		case <-ctx.Done():
			return ended{}, fmt.Errorf("order %s not final: %w", id, ctx.Err())
		case <-time.After(250 * time.Millisecond): // the poll interval
		}
	}
}

func pollOK(ctx context.Context, url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func readStock(ctx context.Context, g *gatewayClient) ([]stockItem, error) {
	status, b, err := g.do(ctx, http.MethodGet, "/api/v1/products?limit=100", "", nil, nil)
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("list products: %d %s %v", status, b, err)
	}
	var page struct {
		Items []struct {
			ID         string `json:"id"`
			PriceCents int64  `json:"price_cents"`
			Available  int64  `json:"available"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return nil, err
	}
	var items []stockItem
	for _, p := range page.Items {
		if p.PriceCents <= 2500 && p.Available >= 50 {
			items = append(items, stockItem{id: p.ID, price: p.PriceCents, left: p.Available})
		}
	}
	slices.SortFunc(items, func(a, b stockItem) int { return int(b.left - a.left) })
	return items, nil
}

func makeShoppers(ctx context.Context, g *gatewayClient, n int) ([]shopper, error) {
	var out []shopper
	for i := range n {
		email := fmt.Sprintf("bench-%d-%s@example.com", i, uuid.NewString()[:8])
		const password = "benchmark password 1"
		var u struct {
			ID string `json:"id"`
		}
		if err := retry(ctx, func() error {
			status, b, err := g.do(ctx, http.MethodPost, "/api/v1/users", "", map[string]string{"email": email, "name": "Bench", "password": password}, nil)
			if err != nil || status != http.StatusCreated {
				return fmt.Errorf("register: %d %s %v", status, b, err)
			}
			return json.Unmarshal(b, &u)
		}); err != nil {
			return nil, err
		}
		var sess struct {
			Token string `json:"token"`
		}
		if err := retry(ctx, func() error {
			status, b, err := g.do(ctx, http.MethodPost, "/api/v1/sessions", "", map[string]string{"email": email, "password": password}, nil)
			if err != nil || status != http.StatusOK {
				return fmt.Errorf("log in: %d %s %v", status, b, err)
			}
			return json.Unmarshal(b, &sess)
		}); err != nil {
			return nil, err
		}
		out = append(out, shopper{id: u.ID, token: sess.Token})
	}
	for i := range out {
		if err := retry(ctx, func() error {
			status, b, err := g.do(ctx, http.MethodGet, "/api/v1/wallet", out[i].token, nil, nil)
			var w struct {
				Balance int64 `json:"balance_cents"`
			}
			if err != nil || status != http.StatusOK || json.Unmarshal(b, &w) != nil || w.Balance == 0 {
				return fmt.Errorf("wallet of %s not funded: %d %s %v", out[i].id, status, b, err)
			}
			out[i].budget, out[i].funded = w.Balance, w.Balance
			return nil
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

// scrapeStateOps sums dapr_component_state_count of every app's sidecar,
// by app, component and operation (successful ones).
func scrapeStateOps(ctx context.Context, sys *launcher.System) (map[string]float64, error) {
	out := map[string]float64{}
	for _, id := range []string{"gateway", "users", "catalog", "orders", "payments", "notifications"} {
		a, _ := sys.App(id)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", a.MetricsPort), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "dapr_component_state_count{") && !strings.HasPrefix(line, "dapr_component_transaction_count{") {
				continue
			}
			labels := line[strings.IndexByte(line, '{')+1 : strings.LastIndexByte(line, '}')]
			if !strings.Contains(labels, `success="true"`) {
				continue
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndexByte(line, '}')+1:]), 64)
			if err != nil {
				continue
			}
			component, op := label(labels, "component"), label(labels, "operation")
			if strings.HasPrefix(line, "dapr_component_transaction_count") {
				op = "transaction"
			}
			out[id+"|"+component+"|"+op] += v
		}
		resp.Body.Close()
	}
	return out, nil
}

func label(labels, name string) string {
	i := strings.Index(labels, name+`="`)
	if i < 0 {
		return ""
	}
	rest := labels[i+len(name)+2:]
	return rest[:strings.IndexByte(rest, '"')]
}

func (r *sagaResults) markdown() string {
	var b strings.Builder
	byName := map[string]*sagaSeries{}
	for _, s := range r.series {
		byName[s.name] = s
	}
	fmt.Fprintf(&b, "## 2. Checkout saga\n\n")
	fmt.Fprintf(&b, "Sagas started at rising arrival rates (open loop: 2, 4, 8, … per second, %s per step) until p99 passes 2 s, throughput falls below 80%% of the arrival rate "+
		"(the backlog grows), a saga fails or does not end within a minute, or the catalog's stock or the shoppers' money would run out. "+
		"Throughput is completed sagas over the time from the step's first arrival to its last completion; latency runs from the request that started a saga to its end as recorded by whoever ran it.\n\n", r.stepDur)
	fmt.Fprintf(&b, "- **checkout saga, local profile**: the whole system started afresh by the launcher from `dapr/dapr.yaml` (mTLS, access control, tracing to a discarding collector: the project as it runs), "+
		"`POST /api/v1/orders` through the gateway by 32 registered shoppers, one unit of one of the cheap, well-stocked products per order. "+
		"Latency: from sending the request to the order's `updated_at` (its last change, made by the saga's last activity), read back through the gateway.\n")
	redisSource := "a Redis server on " + redisAddr
	if s := byName["redis"]; s != nil && s.source != "" {
		redisSource = s.source
	}
	fmt.Fprintf(&b, "- **checkout saga, redis profile**: the same, on the `redis` profile (`components/redis/`: every store and Redis Streams in one Redis database) with %s. "+
		"Its state stores are daprshop's own pluggable component (`state.daprshop-redis`, `pluggable/redisstate`, a process the launcher starts beside the sidecars), "+
		"not Dapr's `state.redis`, whose transactions are not all-or-nothing (docs/dapr-notes.md): so its figures include a gRPC hop over a Unix socket per state operation, "+
		"and its stock and money invariant is checked below like the local profile's.\n", redisSource)
	fmt.Fprintf(&b, "- **no-op workflow (ceiling)**: the same workflow shape (SaveOrder, then three steps each after a zero-timeout check for a cancel event, then FinishOrder; the same retry policy) whose activities do nothing, "+
		"hosted by the benchmark process on one daprd of its own with a SQLite actor state store, placement and scheduler (no mTLS, no tracing). Scheduled directly with the workflow client; latency from the schedule call to the FinishOrder activity.\n")
	fmt.Fprintf(&b, "- **same participant calls by DTM**: DTM %s (`tools/dtm`, built from the Go module proxy), its embedded BoltDB store, runs a saga of the same three participant calls "+
		"(catalog try, compensated by cancel; payments charge, compensated by refund; catalog confirm) with the same bodies, through the orders app's sidecar exactly as the checkout saga's activities call them "+
		"(HTTP service invocation, orders' API token, the participants' access control), on the local profile's system started afresh for it (the same seeded stock and shoppers). "+
		"The seed's cheap products hold 960 units, fewer than DTM's rising steps need, so when the stock left is short of the next step the system is replaced by a fresh one between steps (noted in the table; DTM's server keeps running), "+
		"and a step even a fresh system's stock cannot hold whole is shortened to that stock. "+
		"It does not save, update or publish an order: the Dapr saga's SaveOrder and FinishOrder (orders' store, the outbox event and the notification it causes) have no counterpart, so this is DTM's cost for the participant calls alone. "+
		"Submitted with `wait_result`; latency is the submit call. DTM's server listens on every interface (no setting), so `make bench` runs the whole benchmark in a private network namespace that has only loopback.\n\n", r.dtmVersion)
	fmt.Fprintf(&b, "| series | arrivals/s | offered | completed | cancelled | failed | sagas/s | p50 | p90 | p99 | notes; stopped because |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	best := map[string]float64{}
	for _, s := range r.series {
		if s.skipped != "" {
			fmt.Fprintf(&b, "| %s | – | | | | | | | | | **not run**: %s |\n", s.label, s.skipped)
			continue
		}
		if s.err != nil && len(s.steps) == 0 {
			fmt.Fprintf(&b, "| %s | – | | | | | | | | | **not measured**: `%s` |\n", s.label, oneLine(s.err))
			continue
		}
		for _, st := range s.steps {
			notes := st.note
			if st.stop != "" {
				if notes != "" {
					notes += "; "
				}
				notes += "**stopped**: " + st.stop
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %.1f | %s | %s | %s | %s |\n", s.label, st.rate, st.offered, st.completed, st.cancelled, st.failed, st.tput,
				ms(st.p50), ms(st.p90), ms(st.p99), notes)
			if st.p99 <= maxSagaP99 && st.failed == 0 {
				best[s.name] = max(best[s.name], st.tput)
			}
		}
		if s.err != nil {
			fmt.Fprintf(&b, "| %s | | | | | | | | | | then failed: `%s` |\n", s.label, oneLine(s.err))
		}
	}
	fmt.Fprintf(&b, "\nHighest completed sagas per second in a step whose p99 stayed within 2 s with no failure (a step that fell behind its arrival rate counts: it shows the most the series completed per second): ")
	var parts []string
	for _, s := range r.series {
		if s.skipped == "" {
			parts = append(parts, fmt.Sprintf("%s %.1f sagas/s", s.label, best[s.name]))
		}
	}
	fmt.Fprintf(&b, "%s.\n\n", strings.Join(parts, "; "))
	if best["noop"] > 0 && best["local"] > 0 {
		x := best["local"] / best["noop"]
		fmt.Fprintf(&b, "**Ratios.** The checkout saga reaches **%.2f ×** the no-op ceiling on the local profile (target ≥ 0.7: %s)", x, verdict(x >= 0.7))
		if best["redis"] > 0 {
			y := best["redis"] / best["noop"]
			held := "whose invariants were not checked"
			if inv := byName["redis"].invariant; inv != nil && inv.err == nil {
				switch {
				case inv.held():
					held = "whose stock and money invariant held in this run"
				case inv.broken():
					held = "with its stock and money invariant **broken** in this run"
				default:
					held = "whose invariant check was inconclusive"
				}
			}
			fmt.Fprintf(&b, ", and **%.2f ×** on the redis profile (%s)", y, held)
		}
		b.WriteString(".")
		if best["dtm"] > 0 {
			y := best["local"] / best["dtm"]
			v := verdict(y >= 0.5)
			if d := byName["dtm"]; d != nil && !saturated(d) {
				if y >= 0.5 {
					v = "cannot be judged"
				}
				v += "; DTM did not saturate within the run's rates and stock, so its ceiling is higher and the true ratio lower"
			}
			fmt.Fprintf(&b, " Against DTM (local profile): **%.2f ×** (target ≥ 0.5: %s).", y, v)
		}
		fmt.Fprintf(&b, " The rates double from step to step (with one more step at ¾ of the first rate that failed), so a ratio is coarse: it says which step each series reached.\n\n")
	}
	var invs []string
	for _, s := range r.series {
		if s.invariant == nil {
			continue
		}
		where := ""
		if s.invariant.systems > 1 {
			where = fmt.Sprintf(" (summed over its %d systems)", s.invariant.systems)
		}
		invs = append(invs, fmt.Sprintf("- %s%s: %s.\n", s.label, where, s.invariant.summary()))
	}
	if len(invs) > 0 {
		b.WriteString("**Stock and money invariant, measured.** After each series' sagas ended (and 5 s more, past the catalog's 2 s cache), the benchmark read every product's `available` units and every shopper's wallet through the gateway " +
			"and compared what went with what the sagas' outcomes say should have: one unit and its price per completed saga, nothing for a cancelled one. " +
			"Outcomes are the orders' final status read through the gateway (DTM: its submit answer). A saga whose outcome the run could not learn (it did not end within the drain time, failed to start, or DTM answered FAILURE) may or may not have sold its unit and kept its price: a difference those sagas could explain makes the check inconclusive, one they cannot makes it broken.\n\n")
		b.WriteString(strings.Join(invs, ""))
		b.WriteString("\n")
	}
	if len(r.stateOps) > 0 {
		fmt.Fprintf(&b, "**State-store operations per saga, local profile** (%d sagas; successful operations counted by each sidecar's `dapr_component_state_count` and `dapr_component_transaction_count`, "+
			"difference before and after the rising run, divided by the sagas; it includes the order reads of the latency polling and the notifications the sagas' events cause). "+
			"The workflow engine's own writes to the actor state store (its history) do not go through these counters:\n\n| app | component | operation | per saga |\n|---|---|---|---:|\n", r.sagas)
		var total float64
		for _, op := range r.stateOps {
			fmt.Fprintf(&b, "| %s | %s | %s | %.2f |\n", op.app, op.component, op.operation, op.perSaga)
			total += op.perSaga
		}
		fmt.Fprintf(&b, "| | | **all** | **%.1f** |\n\n", total)
	}
	return b.String()
}

// saturated reports whether a series stopped because it could not keep
// up (p99, backlog, failures) rather than for want of stock or rates.
func saturated(s *sagaSeries) bool {
	for _, st := range s.steps {
		if st.stop == "p99 passed 2 s" || strings.HasPrefix(st.stop, "throughput below") || st.failed > 0 {
			return true
		}
	}
	return false
}
