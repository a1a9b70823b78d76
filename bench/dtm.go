package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/daprshop/daprshop/internal/proc"
	"github.com/daprshop/daprshop/internal/shopclient"
)

// DTM (github.com/dtm-labs/dtm, pinned in tools/dtm) runs the saga's
// participant calls: reserve (catalog try, compensated by cancel), charge
// (payments, compensated by refund), confirm (catalog). It calls them
// exactly where the checkout saga's activities call them: through the
// orders app's sidecar (HTTP service invocation, orders' API token), so
// the participants, their sidecars, access control and stores are the
// same. DTM keeps its transactions in its embedded store (BoltDB, a file).

// onlyLoopback reports whether this process sees no network interface but
// loopback: DTM's server listens on every interface (":port", no setting
// to change it), so it runs only in a private network namespace (`make
// bench` runs the benchmark in one).
func onlyLoopback() bool {
	ifs, err := net.Interfaces()
	if err != nil {
		return false
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			return false
		}
	}
	return true
}

func runDTMSeries(ctx context.Context, cfg config, s *sagaSeries, log func(string, ...any)) error {
	dir, err := os.MkdirTemp("", "bench-dtm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	conf := fmt.Sprintf("HttpPort: %d\nGrpcPort: %d\nJsonRpcPort: %d\nLogLevel: warn\nRequestTimeout: 10\n", ports[0], ports[1], ports[2])
	if err := writeFiles(dir, map[string]string{"conf.yml": conf}); err != nil {
		return err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	p, err := startChild(proc.Spec{
		Name: "dtm", Path: filepath.Join(cfg.bin, "dtm"), Args: []string{"-c", filepath.Join(dir, "conf.yml")}, Dir: dir,
		Ready: proc.HTTP(base+"/api/dtmsvr/version", http.StatusOK),
	}, time.Minute)
	if err != nil {
		return err
	}
	defer p.stop()
	sys := newRefilled(ctx, cfg, "dtm", log)
	defer func() {
		s.invariant = sys.close()
		log("part 2: %s: %s", s.label, s.invariant.Summary())
	}()
	if err := sys.use(); err != nil {
		return err
	}
	dtmsvr := shopclient.New(base, nil) // a client of DTM's HTTP API
	submit := func(ctx context.Context) (func(context.Context) (ended, error), error) {
		shp := sys.cur
		sh, it, ok := shp.pick()
		if !ok {
			return nil, fmt.Errorf("no stock or money left")
		}
		gid := uuid.NewString()
		try, _ := json.Marshal(map[string]any{"items": []map[string]any{{"product_id": it.id, "quantity": 1}}})
		charge, _ := json.Marshal(map[string]any{"user_id": sh.id, "amount_cents": it.price})
		body := map[string]any{
			"gid": gid, "trans_type": "saga", "wait_result": true, "protocol": "http",
			"steps": []map[string]string{
				{"action": sys.invoke + "/catalog/method/reservations/" + gid + "/try", "compensate": sys.invoke + "/catalog/method/reservations/" + gid + "/cancel"},
				{"action": sys.invoke + "/payments/method/charges/" + gid, "compensate": sys.invoke + "/payments/method/charges/" + gid + "/refund"},
				{"action": sys.invoke + "/catalog/method/reservations/" + gid + "/confirm", "compensate": ""},
			},
			"payloads":       []string{string(try), string(charge), "{}"},
			"branch_headers": map[string]string{"dapr-api-token": sys.token},
		}
		sent := time.Now()
		resp, err := dtmsvr.Do(ctx, shopclient.Request{Method: http.MethodPost, Path: "/api/dtmsvr/submit", Body: body})
		at := time.Now()
		if err == nil && (resp.Status != http.StatusOK || !strings.Contains(string(resp.Body), "SUCCESS")) {
			err = fmt.Errorf("dtm submit: %d %.300s", resp.Status, resp.Body)
		}
		if err != nil {
			shp.audit.Unknown(1, it.price) // failed, or compensated, or still running: unknown here
			return nil, err
		}
		// DTM's saga is no order of the orders service: the audit takes
		// it as its submit answer says, and holds the charge of its gid.
		shp.audit.Placed("", shopclient.Order{ID: gid, UserID: sh.id, Status: "completed", TotalCents: it.price,
			Items: []shopclient.Item{{ProductID: it.id, Quantity: 1, PriceCents: it.price}}})
		return func(context.Context) (ended, error) {
			return ended{status: "completed", latency: at.Sub(sent), at: at}, nil
		}, nil
	}
	// Ready when one saga goes through.
	if err := retry(ctx, func() error { _, err := submit(ctx); return err }); err != nil {
		return fmt.Errorf("a first DTM saga: %w\n%s", err, p.tail(20))
	}
	s.procs = func() map[string]int { return merge(systemPIDs(sys.cur.sys), map[string]int{"dtm": p.PID()}) }
	rising(ctx, s, cfg.benchtime, 256, func() int { return sys.cur.capacity() }, sys.refill, submit, log)
	s.note = fmt.Sprintf("%d systems", sys.systems)
	return nil
}

// refilled is the local system a series of bare participant calls runs on
// (DTM's, and the Dapr series doing the same, daprcalls.go): a fresh one
// whenever the last one's stock is short of the next step (refill),
// between steps only, each audited before it stops.
type refilled struct {
	ctx     context.Context
	cfg     config
	name    string
	log     func(string, ...any)
	cur     *shop
	invoke  string // orders' sidecar's invoke URL
	token   string // its API token
	systems int
	inv     shopclient.Verdict
}

func newRefilled(ctx context.Context, cfg config, name string, log func(string, ...any)) *refilled {
	return &refilled{ctx: ctx, cfg: cfg, name: name, log: log}
}

func (r *refilled) use() error {
	r.systems++
	shp, err := startShop(r.ctx, r.cfg, "local", fmt.Sprintf("%s-%d", r.name, r.systems), r.log)
	if err != nil {
		return err
	}
	orders, _ := shp.sys.App("orders")
	r.cur, r.token = shp, shp.sys.Env()["DAPR_API_TOKEN"]
	r.invoke = fmt.Sprintf("http://127.0.0.1:%d/v1.0/invoke", orders.HTTPPort)
	return nil
}

func (r *refilled) retire() {
	if r.cur != nil {
		r.inv.Add(r.cur.check(r.ctx))
		r.cur.stop()
		r.cur = nil
	}
}

func (r *refilled) refill() error {
	r.retire()
	return r.use()
}

// close retires the last system and gives the verdict summed over all.
func (r *refilled) close() *shopclient.Verdict {
	r.retire()
	return &r.inv
}
