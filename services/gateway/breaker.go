package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/sony/gobreaker/v2"

	"github.com/daprshop/daprshop/internal/web"
)

// The gateway keeps one circuit breaker per app it forwards to. It is here,
// and not in dapr/resources/resiliency.yaml, because a Dapr breaker counts
// every answer of the app outside 200-399 as a failure: a 404 for an
// unknown product or a 401 for a wrong password would count like a dead
// callee, and any anonymous client could hold a breaker open with a few bad
// requests (docs/dapr-notes.md). This one counts only what says the app
// itself is in trouble:
//
//   - no answer: the sidecar could not be reached, or the invocation
//     timed out (the gateway's INVOKE_TIMEOUT, or daprd's own timeout of
//     resiliency.yaml, which daprd reports as a 500 that is not a problem);
//   - an error of daprd rather than of the app (any status >= 400 that is
//     not a problem+json body: callee sidecar down, app unhealthy);
//   - a 5xx problem of the app (its store is down).
//
// An app's 4xx problem is a success here, and what the client does to its
// own request (hanging up, a body over the limit) is not counted at all.
// The gateway reads a request's body before it asks the breaker, so a
// client that trickles its body slowly cannot make an app look slow.

// breakerSettings say when a circuit opens and for how long.
type breakerSettings struct {
	// Failures is how many failures in a row open the circuit.
	Failures uint32
	// OpenFor is how long an open circuit refuses every request before it
	// lets one through to try the app again (half-open); that one's
	// outcome closes the circuit or opens it for another OpenFor.
	OpenFor time.Duration
}

// breakers holds the circuit breaker of each app.
type breakers struct {
	logger   *slog.Logger
	settings breakerSettings
	byApp    map[string]*gobreaker.TwoStepCircuitBreaker[struct{}]
}

// errNotCounted marks an outcome the breaker ignores: the client's doing,
// not the app's.
var errNotCounted = errors.New("not the app's failure")

var (
	circuitState = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "daprshop_gateway_circuit_state",
		Help: "State of the gateway's circuit breaker for each app it forwards to: 0 closed, 1 half-open, 2 open.",
	}, []string{"app"})
	circuitRejected = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "daprshop_gateway_circuit_rejected_total",
		Help: "Requests the gateway answered 503 itself because the app's circuit was open.",
	}, []string{"app"})
)

// newBreakers makes a closed breaker for each of apps.
func newBreakers(logger *slog.Logger, s breakerSettings, apps ...string) *breakers {
	b := &breakers{logger: logger, settings: s, byApp: make(map[string]*gobreaker.TwoStepCircuitBreaker[struct{}], len(apps))}
	for _, app := range apps {
		b.byApp[app] = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        app,
			MaxRequests: 1, // one request tries the app again when half-open
			Timeout:     s.OpenFor,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= s.Failures },
			IsExcluded:  func(err error) bool { return errors.Is(err, errNotCounted) },
			OnStateChange: func(name string, from, to gobreaker.State) {
				circuitState.WithLabelValues(name).Set(float64(to))
				logger.Warn("circuit breaker changed state", "app", name, "from", from.String(), "to", to.String())
			},
		})
		circuitState.WithLabelValues(app).Set(float64(gobreaker.StateClosed))
	}
	return b
}

// allow asks app's breaker for a request. It returns the function that
// reports the request's outcome (nil for success), or false when the
// circuit is open and the request must not be sent.
func (b *breakers) allow(app string) (done func(error), ok bool) {
	cb, found := b.byApp[app]
	if !found {
		panic(fmt.Sprintf("gateway: no circuit breaker for app %q", app)) // a route names an app newBreakers was not given
	}
	done, err := cb.Allow()
	if err != nil { // gobreaker.ErrOpenState, or ErrTooManyRequests while one request tries the app
		return nil, false
	}
	return done, true
}

// refuse answers a request that app's open circuit stopped: 503 with a
// problem naming the app and a Retry-After of the time the circuit stays
// open. It logs at debug only: the state change was logged once, at warn.
func (b *breakers) refuse(w http.ResponseWriter, r *http.Request, app string) {
	circuitRejected.WithLabelValues(app).Inc()
	secs := int(math.Ceil(b.settings.OpenFor.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	b.logger.DebugContext(r.Context(), "request refused: circuit open", "app", app, "path", r.URL.Path)
	web.WriteProblem(w, web.Problem{
		Type:     "about:blank",
		Title:    http.StatusText(http.StatusServiceUnavailable),
		Status:   http.StatusServiceUnavailable,
		Detail:   fmt.Sprintf("the %s service is failing, so the gateway is not sending it requests for now (circuit open); try again in %d s", app, max(secs, 1)),
		Instance: r.URL.Path,
	})
}

// outcomeKey holds, in a proxied request's context, the *outcome the
// proxy's hooks fill in.
type outcomeKey struct{}

// outcome is what the breaker learns of one request: nil is a success.
type outcome struct{ err error }

func withOutcome(ctx context.Context) (context.Context, *outcome) {
	o := &outcome{}
	return context.WithValue(ctx, outcomeKey{}, o), o
}

// setOutcome records err as the outcome of the request whose context is
// ctx (a no-op outside a proxied request).
func setOutcome(ctx context.Context, err error) {
	if o, ok := ctx.Value(outcomeKey{}).(*outcome); ok {
		o.err = err
	}
}
