package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Events under faults. The events are user.registered, published through
// the users app's sidecar as users does (each with an id of ours), for a
// new user id each: notifications applies one as a welcome in the user's
// inbox, payments as a wallet opened with the starting credit. Applied
// exactly once means: one welcome, with the event's id, and a wallet
// holding exactly the credit.

// eventSettleBound is how long after the last fault every event of a
// scenario must have been applied.
const eventSettleBound = 3 * time.Minute

// registrations publishes user.registered events and checks their effects.
type registrations struct {
	mu        sync.Mutex
	users     []string // user ids, one event each
	published atomic.Int64
	mark      logMark
}

func newRegistrations(t *testing.T) *registrations {
	return &registrations{mark: markLog(t)}
}

// event is the user.registered event of user id.
func registeredEvent(userID string) map[string]any {
	return map[string]any{
		"specversion": "1.0", "id": "chaos-" + userID, "source": "e2e", "type": "com.daprshop.user.registered",
		"datacontenttype": "application/json",
		"data":            map[string]string{"user_id": userID, "email": "chaos@example.com", "name": "Chaos"},
	}
}

// publish publishes n events with `workers` publishers at once, calling
// every(i) after the i-th event's publish was accepted when i is a
// multiple of k (k 0: never). A refused publish (the broker down) is
// retried with the same event until accepted: at least once, as the
// outbox does. It may run in a goroutine of its own: it reports, rather
// than fails the test.
func (r *registrations) publish(n, workers, k int, every func(i int)) error {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	r.mu.Lock()
	r.users = append(r.users, ids...)
	r.mu.Unlock()
	users, _ := sys.App("users")
	url := fmt.Sprintf("http://127.0.0.1:%d/v1.0/publish/pubsub/user.registered", users.HTTPPort)
	token := sys.Env()["DAPR_API_TOKEN"]
	jobs := make(chan string)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for id := range jobs {
				if err := publishUntilAccepted(url, token, registeredEvent(id)); err != nil {
					errs <- err
					return
				}
				if i := int(r.published.Add(1)); k > 0 && i%k == 0 && every != nil {
					every(i)
				}
			}
		})
	}
	for _, id := range ids {
		select {
		case jobs <- id:
		case err := <-errs:
			close(jobs)
			wg.Wait()
			return err
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// publishUntilAccepted publishes event until the sidecar accepts it (204),
// retrying a 5xx or a transport error for at most eventSettleBound.
func publishUntilAccepted(url, token string, event map[string]any) error {
	body, err := json.Marshal(event)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(eventSettleBound)
	for {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/cloudevents+json")
		req.Header.Set("dapr-api-token", token)
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusNoContent:
				return nil
			case resp.StatusCode < 500:
				return fmt.Errorf("publish %s: %d %s", event["id"], resp.StatusCode, b)
			}
			err = fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("publish %s: still failing after %s: %w", event["id"], eventSettleBound, err)
		}
		<-time.After(100 * time.Millisecond) // a publisher's pause before it retries
	}
}

// eventAudit is what the checker found of a registrations run.
type eventAudit struct {
	violations  []string
	dupEffects  int
	redelivered int // deliveries the inbox or the wallet found applied already
	deadLetters int
	settle      time.Duration
}

// audit waits (for at most eventSettleBound from `from`) until every
// event's welcome and wallet exist, then checks each exactly once: one
// welcome with the event's id (a second one is a duplicate effect), and a
// wallet with exactly the starting credit. An event not applied by then
// is a violation, and so is any dead letter since the run began.
func (r *registrations) audit(t *testing.T, from time.Time) eventAudit {
	t.Helper()
	var a eventAudit
	pending := slices.Clone(r.users)
	deadline := from.Add(eventSettleBound)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for len(pending) > 0 && time.Now().Before(deadline) {
		pending = slices.DeleteFunc(pending, func(id string) bool {
			welcomes, err := appInbox(id)
			return err == nil && len(welcomes) > 0 && walletOpened(id) == nil
		})
		if len(pending) > 0 {
			<-tick.C
		}
	}
	a.settle = time.Since(from)
	for _, id := range pending {
		a.violations = append(a.violations, fmt.Sprintf("user %s: event not applied within %s (%s)", id, eventSettleBound, r.missing(id)))
	}
	if len(pending) > 0 {
		r.explain(t, pending)
	}
	for _, id := range r.users {
		if slices.Contains(pending, id) {
			continue
		}
		items, err := appInbox(id)
		require.NoError(t, err)
		if len(items) != 1 || items[0].ID != "chaos-"+id || items[0].Kind != "welcome" {
			a.violations = append(a.violations, fmt.Sprintf("user %s: inbox %+v, want one welcome", id, items))
			if len(items) > 1 {
				a.dupEffects += len(items) - 1
			}
		}
		if err := walletOpened(id); err != nil {
			a.violations = append(a.violations, err.Error())
			if errors.Is(err, errCreditedTwice) {
				a.dupEffects++
			}
		}
	}
	ours := map[string]bool{}
	for _, id := range r.users {
		ours["chaos-"+id] = true
	}
	for _, e := range logEntries(t, r.mark, "event applied") {
		if e.flag("duplicate") && ours[e.str("event_id")] {
			a.redelivered++
		}
	}
	dl := logEntries(t, r.mark, "dead letter received")
	a.deadLetters = len(dl)
	for _, e := range dl {
		a.violations = append(a.violations, fmt.Sprintf("dead letter on %s: event %s", e.str("topic"), e.str("event_id")))
	}
	return a
}

// missing names the effects of a user's event that are not there.
func (r *registrations) missing(userID string) string {
	var out []string
	if welcomes, err := appInbox(userID); err != nil || len(welcomes) == 0 {
		out = append(out, fmt.Sprintf("welcome: %d, %v", len(welcomes), err))
	}
	if err := walletOpened(userID); err != nil {
		out = append(out, err.Error())
	}
	return strings.Join(out, "; ")
}

// explain logs what the system said about events that were never applied
// (their lines in the system log) and, on the local profile (whose NATS
// server the launcher runs, monitoring on 8322), the state of the
// user.registered stream and its consumers: enough to tell a message the
// broker still holds from one it considers acknowledged.
func (r *registrations) explain(t *testing.T, pending []string) {
	t.Helper()
	for _, id := range pending[:min(len(pending), 3)] {
		for _, line := range linesMentioning(t, r.mark, id, 20) {
			t.Logf("log of %s: %s", id, line)
		}
	}
	var jsz struct {
		AccountDetails []struct {
			StreamDetail []struct {
				Name           string            `json:"name"`
				State          json.RawMessage   `json:"state"`
				ConsumerDetail []json.RawMessage `json:"consumer_detail"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := getJSON("http://127.0.0.1:8322/jsz?consumers=true", nil, &jsz); err != nil {
		return // not the local profile's server
	}
	for _, acc := range jsz.AccountDetails {
		for _, st := range acc.StreamDetail {
			if st.Name != "user_registered" {
				continue
			}
			t.Logf("JetStream stream %s: %s", st.Name, st.State)
			for _, c := range st.ConsumerDetail {
				t.Logf("JetStream consumer: %s", c)
			}
		}
	}
}

// appInbox reads a user's inbox from the notifications app itself.
func appInbox(userID string) ([]notification, error) {
	var out struct {
		Items []notification `json:"items"`
	}
	return out.Items, getFromApp("notifications", "/users/"+userID+"/notifications", &out)
}

var errCreditedTwice = errors.New("credited more than once")

// walletOpened reports whether the user's wallet exists with exactly the
// starting credit (the events open no other wallet, and nothing charges
// these users).
func walletOpened(userID string) error {
	var w struct {
		BalanceCents int64 `json:"balance_cents"`
	}
	if err := getFromApp("payments", "/users/"+userID+"/wallet", &w); err != nil {
		return fmt.Errorf("wallet of %s: %w", userID, err)
	}
	switch {
	case w.BalanceCents > 100000:
		return fmt.Errorf("wallet of %s holds %d: %w", userID, w.BalanceCents, errCreditedTwice)
	case w.BalanceCents != 100000:
		return fmt.Errorf("wallet of %s holds %d, want 100000", userID, w.BalanceCents)
	}
	return nil
}

// getFromApp GETs path from an app's own port with the app token and
// decodes a 200 answer into out; anything else is an error.
func getFromApp(appID, path string, out any) error {
	a, ok := sys.App(appID)
	if !ok {
		return fmt.Errorf("no app %s", appID)
	}
	return getJSON(fmt.Sprintf("http://127.0.0.1:%d%s", a.AppPort, path), map[string]string{"dapr-api-token": sys.Env()["APP_API_TOKEN"]}, out)
}

// getJSON GETs url with header and decodes a 200 answer into out; anything
// else is an error. It never fails the test: the fault scenarios poll
// through outages, and may call it from goroutines of their own.
func getJSON(url string, header map[string]string, out any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

func (a eventAudit) row(scenario string, iterations, faults, events int) chaosRow {
	return chaosRow{
		Scenario: scenario, Iterations: iterations, Faults: faults, Work: fmt.Sprintf("%d events", events),
		Violations: len(a.violations), Duplicates: a.redelivered, DupEffects: a.dupEffects, Settle: a.settle,
	}
}

func (a eventAudit) assertClean(t *testing.T) {
	t.Helper()
	if len(a.violations) > 10 {
		t.Errorf("%d violations; the first ten:", len(a.violations))
		a.violations = a.violations[:10]
	}
	assert.Empty(t, a.violations)
	assert.Zero(t, a.dupEffects, "duplicate effects")
	assert.Zero(t, a.deadLetters, "dead letters")
}

// 10,000 events (make chaos; 600 in make test), the subscriber
// (notifications) killed with SIGKILL every few hundred: the events come
// in chunks of `every`, and once the subscriber has applied a quarter of a
// chunk (it is busy with the rest), it is killed, alternately the app
// alone and the app with its sidecar, while the next chunk is published.
// Every event's effect is applied exactly once.
func TestChaosPubSubSubscriberCrashes(t *testing.T) {
	skipShort(t)
	n, every := chaosCount(600, 10000), chaosCount(200, 400)
	r := newRegistrations(t)
	kills := 0
	began := time.Now()
	for c := range n / every {
		require.NoError(t, r.publish(every, 8, 0, nil))
		chunk := r.users[len(r.users)-every:]
		require.Eventually(t, func() bool {
			items, err := appInbox(chunk[every/4])
			return err == nil && len(items) > 0
		}, 2*time.Minute, 20*time.Millisecond, "chunk %d reaches the subscriber", c+1)
		names := []string{"notifications"}
		if c%2 == 1 {
			names = append(names, "notifications.daprd")
		}
		for _, name := range names {
			require.NoError(t, sys.Kill(name))
			kills++
		}
	}
	published := time.Since(began)
	// The last restart: the settle time counts from when both are back.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, name := range []string{"notifications", "notifications.daprd"} {
		require.Eventually(t, func() bool { return sys.PID(name) != 0 }, time.Minute, 20*time.Millisecond)
		require.NoError(t, sys.WaitReady(ctx, name))
	}
	a := r.audit(t, time.Now())
	t.Logf("%d events published in %s with %d kills; %d redeliveries found applied already; settled %s after the last restart",
		n, published.Round(time.Millisecond), kills, a.redelivered, a.settle.Round(time.Millisecond))
	recordChaos(a.row(fmt.Sprintf("pub/sub: kill -9 the subscriber (app, or app and sidecar) every %d events", every), 1, kills, n))
	a.assertClean(t)
}

// SIGTERM to a subscriber and a saga participant under load, repeatedly:
// no event goes to a dead-letter topic because of a shutdown, every event
// and saga settles, and requests in flight when the signal came finish:
// each request sent straight to the app before the SIGTERM and still
// running at it is answered in full, without a 5xx (it reads through the
// app's sidecar, which is stopped once the app has exited).
func TestChaosGracefulShutdown(t *testing.T) {
	skipShort(t)
	iterations := chaosCount(2, 10)
	targets := []struct {
		app, path string // a route answered with a 200 (through the app's sidecar)
	}{
		{"notifications", "/users/" + uuid.NewString() + "/notifications"},
		{"payments", "/merchant"},
	}
	r := newRegistrations(t)
	sagas := newChaosSagas(t, iterations*chaosCount(6, 12))
	var inFlight, cut int
	var maxSettle time.Duration
	faults := 0
	for it := range iterations {
		tg := targets[it%len(targets)]
		stop := make(chan struct{})
		var load sync.WaitGroup
		calls := make([][]call, 4)
		var answered atomic.Int64
		for i := range calls {
			load.Go(func() { calls[i] = hammer(appURL(t, tg.app)+tg.path, stop, &answered) })
		}
		publishedBefore := r.published.Load()
		placed := sagas.burst(t, chaosCount(6, 12))
		var events sync.WaitGroup
		events.Go(func() { assert.NoError(t, r.publish(chaosCount(100, 300), 4, 0, nil)) })
		// The fault while both loads run: the app and its sidecar
		// stopped as a pod's termination stops them (sys.StopApp): both
		// signalled at once; daprd (--dapr-block-shutdown-duration) stops
		// its subscriptions and serves the app's calls until the app is
		// gone; the app serves on for its SHUTDOWN_DELAY, then drains.
		// The order used before, the app first and its sidecar once the
		// app had exited, left daprd retrying deliveries against a closed
		// port while it shut down, and an event could be lost for the
		// app (docs/chaos.md, "Graceful shutdown").
		require.Eventually(t, func() bool {
			return answered.Load() >= 20 && r.published.Load() > publishedBefore
		}, 30*time.Second, 5*time.Millisecond, "both loads running")
		signalled := time.Now()
		require.NoError(t, sys.StopApp(tg.app))
		faults += 2
		restart(t, tg.app, tg.app+".daprd")
		readyAt := time.Now()
		close(stop)
		load.Wait()
		for _, c := range slices.Concat(calls...) {
			// In flight: sent before the signal, answered (or cut) after it.
			// A refused connection never reached the app.
			if c.began.Before(signalled) && c.ended.After(signalled) && !errors.Is(c.err, syscall.ECONNREFUSED) {
				inFlight++
				if c.err != nil {
					cut++
					t.Logf("in flight at the SIGTERM to %s, cut off: %v", tg.app, c.err)
				}
			}
		}
		events.Wait()
		settle := sagas.awaitSettled(t, placed(), readyAt)
		maxSettle = max(maxSettle, settle)
		t.Logf("iteration %d: %s and its sidecar stopped and back in %s; the sagas settled %s after", it+1, tg.app, readyAt.Sub(signalled).Round(time.Millisecond), settle.Round(time.Millisecond))
	}
	ea := r.audit(t, time.Now())
	t.Logf("the events settled %s after the last restart", ea.settle.Round(time.Millisecond))
	sa := sagas.audit(t)
	violations := append(ea.violations, sa.violations...)
	if cut > 0 {
		violations = append(violations, fmt.Sprintf("%d of %d requests in flight at a SIGTERM were cut off", cut, inFlight))
	}
	t.Logf("%d SIGTERMs; %d requests straight to the apps in flight at one, %d cut off; %d events, %d sagas (%d completed); %d redeliveries, %d barrier replays",
		faults, inFlight, cut, len(r.users), len(sagas.orders), sa.completed, ea.redelivered, sa.replays)
	recordChaos(chaosRow{
		Scenario: "graceful shutdown: SIGTERM to notifications or payments and its sidecar under load", Iterations: iterations, Faults: faults,
		Work:       fmt.Sprintf("%d events, %d sagas, %d requests in flight", len(r.users), len(sagas.orders), inFlight),
		Violations: len(violations), Duplicates: ea.redelivered + sa.replays, DupEffects: ea.dupEffects + sa.dupEffects, Settle: max(maxSettle, ea.settle),
	})
	assert.Empty(t, violations)
	assert.Zero(t, ea.deadLetters, "no dead letter because of a shutdown")
	assert.Zero(t, ea.dupEffects+sa.dupEffects, "duplicate effects")
}

// call is one request of hammer: when it began and ended, and why it
// failed (a transport error, or a 5xx), if it did.
type call struct {
	began, ended time.Time
	err          error
}

// hammer GETs url until stop, one request after another, and returns them;
// answered counts the ones answered in full.
func hammer(url string, stop chan struct{}, answered *atomic.Int64) []call {
	token := sys.Env()["APP_API_TOKEN"]
	var calls []call
	for {
		select {
		case <-stop:
			return calls
		default:
		}
		c := call{began: time.Now()}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("dapr-api-token", token)
		resp, err := client.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode >= 500 {
				err = fmt.Errorf("answered %s", resp.Status)
			}
		}
		c.ended, c.err = time.Now(), err
		calls = append(calls, c)
		if err == nil {
			answered.Add(1)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			<-time.After(20 * time.Millisecond) // nothing listens: a client's pause
		}
	}
}

// Start order, both ways, with a slow start: the subscribers (notifications
// and payments) and their sidecars are stopped, events are published
// meanwhile, and they come back either app first with the sidecar late, or
// sidecar first (its components connected) with the app late. Every event
// is applied once.
func TestChaosStartOrder(t *testing.T) {
	skipShort(t)
	const slowStart = 3 * time.Second
	iterations := chaosCount(1, 3)
	r := newRegistrations(t)
	faults := 0
	for range iterations {
		for _, appFirst := range []bool{true, false} {
			for _, app := range []string{"notifications", "payments"} {
				sidecar := app + ".daprd"
				require.NoError(t, sys.StopApp(app)) // and its sidecar
				require.NoError(t, r.publish(chaosCount(20, 100), 4, 0, nil))
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				first, second := app, sidecar
				if !appFirst {
					first, second = sidecar, app
				}
				firstDone := make(chan error, 1)
				go func() { firstDone <- sys.StartProcess(ctx, first) }()
				if appFirst {
					require.NoError(t, <-firstDone)
				} else {
					awaitOutbound(t, app)
				}
				// The fault: the other one slow to start. Not a wait for
				// anything; the first is up, and the second is held back as
				// a slow start-up would hold it.
				<-time.After(slowStart)
				require.NoError(t, sys.StartProcess(ctx, second))
				if !appFirst {
					require.NoError(t, <-firstDone)
				}
				cancel()
				faults++
			}
		}
	}
	a := r.audit(t, time.Now())
	recordChaos(a.row(fmt.Sprintf("start order: app before sidecar and the reverse, the second %s late", slowStart), iterations, faults, len(r.users)))
	a.assertClean(t)
}

// awaitOutbound waits until an app's sidecar has connected its components
// (its outbound health), which it does before its app is up.
func awaitOutbound(t *testing.T, app string) {
	t.Helper()
	url := sidecarURL(t, app) + "/v1.0/healthz/outbound"
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get(url) //nolint:noctx // bounded by EventuallyWithT
		if !assert.NoError(c, err) {
			return
		}
		resp.Body.Close()
		assert.Equal(c, http.StatusNoContent, resp.StatusCode)
	}, time.Minute, 50*time.Millisecond, "%s's sidecar never connected its components", app)
}

// The broker restarted under load: events published meanwhile are retried
// until accepted, sagas go on; nothing is lost and nothing applied twice.
// The broker is the one the launcher runs for the profile: on local,
// nats-server with JetStream on disk, killed with SIGKILL; on kafka, the
// kfake broker, stopped with SIGTERM, because kfake writes its log out
// only when it stops cleanly (tools/kafka/README.md), so a SIGKILL would
// test the stand-in's persistence, not Dapr's. The other profiles' servers
// are the machine's, which the suite does not restart.
func TestChaosBrokerRestart(t *testing.T) {
	skipShort(t)
	broker := map[string]string{"local": "nats", "kafka": "kafka"}[profileName()]
	if broker == "" {
		t.Skipf("profile %s: its broker and stores are the machine's servers, which the suite does not restart", profileName())
	}
	fault, restartBroker := "kill -9", func() error { return sys.Kill(broker) }
	if broker == "kafka" {
		fault, restartBroker = "SIGTERM and restart", func() error {
			if err := sys.StopProcess(broker); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return sys.StartProcess(ctx, broker)
		}
	}
	iterations := chaosCount(2, 6)
	r := newRegistrations(t)
	sagas := newChaosSagas(t, iterations*chaosCount(6, 12))
	var maxSettle time.Duration
	for range iterations {
		placed := sagas.burst(t, chaosCount(6, 12))
		var events sync.WaitGroup
		events.Go(func() {
			assert.NoError(t, r.publish(chaosCount(100, 500), 4, chaosCount(50, 250), func(i int) {
				if i == chaosCount(50, 250) {
					assert.NoError(t, restartBroker())
				}
			}))
		})
		events.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		require.NoError(t, sys.WaitReady(ctx, broker))
		cancel()
		maxSettle = max(maxSettle, sagas.awaitSettled(t, placed(), time.Now()))
	}
	ea := r.audit(t, time.Now())
	sa := sagas.audit(t)
	t.Logf("%d broker kills; %d events, %d sagas (%d completed); %d redeliveries, %d barrier replays",
		iterations, len(r.users), len(sagas.orders), sa.completed, ea.redelivered, sa.replays)
	recordChaos(chaosRow{
		Scenario: "broker restart: " + fault + " " + broker + " under load", Iterations: iterations, Faults: iterations,
		Work:       fmt.Sprintf("%d events, %d sagas", len(r.users), len(sagas.orders)),
		Violations: len(ea.violations) + len(sa.violations), Duplicates: ea.redelivered + sa.replays,
		DupEffects: ea.dupEffects + sa.dupEffects, Settle: max(maxSettle, ea.settle),
	})
	ea.assertClean(t)
	assert.Empty(t, sa.violations)
	assert.Zero(t, sa.dupEffects)
}
