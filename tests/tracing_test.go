package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appScopes are the instrumentation scopes of the apps' own spans; every
// other span of a service comes from its daprd.
var appScopes = []string{
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",
	"github.com/daprshop/daprshop",
}

// party names who made a span: "<app>" for the app, "<app>/daprd" for its
// sidecar.
func party(s sinkSpan) string {
	if slices.Contains(appScopes, s.Scope) {
		return s.Service
	}
	return s.Service + "/daprd"
}

// TestCheckoutIsOneTrace places an order and reads its whole trace from the
// OTLP receiver: one trace, rooted at the gateway, holding spans from every
// app of the checkout and their sidecars, down to the notification the
// completed order sends.
func TestCheckoutIsOneTrace(t *testing.T) {
	skipShort(t)
	sc := newScenario(t, "Tracy")
	u := sc.users[0]
	status, h, b := do(t, http.MethodPost, gatewayURL(t)+"/api/v1/orders", "application/json",
		strings.NewReader(orderBody("ceramic-mug-350ml", 1)),
		map[string]string{"Authorization": "Bearer " + u.Token, "Idempotency-Key": uuid.NewString()})
	require.Equal(t, http.StatusAccepted, status, "%s", b)
	var o order
	require.NoError(t, json.Unmarshal(b, &o))
	sc.orders[o.ID] = u
	parts := strings.Split(h.Get("Traceresponse"), "-")
	require.Len(t, parts, 4, "the gateway names the request's trace: %q", h.Get("Traceresponse"))
	traceID := parts[1]
	assert.Equal(t, "completed", awaitFinal(t, u, o.ID, time.Minute).Status)

	want := []string{
		"gateway", "gateway/daprd",
		"orders", "orders/daprd",
		"catalog", "catalog/daprd",
		"payments", "payments/daprd",
		"notifications", "notifications/daprd",
	}
	if slices.Contains(apps, "recommendations") {
		want = append(want, "recommendations/daprd")
	}
	var spans []sinkSpan
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		spans = traces.Trace(traceID)
		seen := map[string]bool{}
		for _, s := range spans {
			seen[party(s)] = true
		}
		for _, p := range want {
			assert.True(c, seen[p], "a span from %s in trace %s", p, traceID)
		}
		assert.True(c, slices.ContainsFunc(spans, func(s sinkSpan) bool {
			return s.Service == "notifications" && s.Name == "POST /events/order-completed"
		}), "the notification of the completed order")
		// Each process exports its spans in batches of its own, so a child
		// can arrive before its parent (seen in CI: catalog's spans before
		// its sidecar's). The trace is whole when every parent is in it.
		assert.Len(c, newSpanTree(spans).roots(), 1, "one root: every span's parent is in the trace")
	}, 30*time.Second, 250*time.Millisecond)

	tree := newSpanTree(spans)
	t.Logf("checkout trace %s: %d spans, depth %d\n%s", traceID, len(spans), tree.depth(), tree)
	roots := tree.roots()
	require.Len(t, roots, 1, "one root: every span's parent is in the trace\n%s", tree)
	assert.Equal(t, "gateway", party(roots[0]))
	assert.Equal(t, "POST /api/v1/orders", roots[0].Name)
	if os.Getenv("TRACING") == "zipkin" {
		// The sidecars' spans came in Zipkin's format (no instrumentation
		// scope), the apps' by OTLP: one trace all the same.
		sidecars := 0
		for _, s := range spans {
			if strings.HasSuffix(party(s), "/daprd") {
				sidecars++
				assert.Empty(t, s.Scope, "%s's span %q came by OTLP, not Zipkin", s.Service, s.Name)
			}
		}
		assert.Positive(t, sidecars, "the sidecars' spans are in the trace")
		t.Logf("TRACING=zipkin: %d of the trace's %d spans came from the sidecars in Zipkin's format", sidecars, len(spans))
	}
	// The hops the checkout is made of, each a span of the app that did it.
	type hop struct{ party, name string }
	hops := []hop{
		{"orders", "POST /users/{user}/orders"},
		{"catalog", "GET /products/{id}"},
		{"orders", "activity ReserveStock"},
		{"catalog", "POST /reservations/{order}/try"},
		{"orders", "activity Charge"},
		{"payments", "POST /charges/{order}"},
		{"orders", "activity ConfirmReservation"},
		{"catalog", "POST /reservations/{order}/confirm"},
		// The confirm's activity ends the saga it completes: its publish of
		// order.completed (no FinishOrder on this path).
		{"notifications", "POST /events/order-completed"},
	}
	if slices.Contains(apps, "recommendations") {
		// The TypeScript app makes no spans of its own; its sidecar's
		// delivery and, below it, the state calls it made with the
		// delivery's traceparent (services/recommendations/src/trace.ts).
		hops = append(hops,
			hop{"recommendations/daprd", "pubsub/order.completed"},
			hop{"recommendations/daprd", "/v1.0/state/recommendations-store/transaction"})
	}
	for _, hop := range hops {
		assert.True(t, slices.ContainsFunc(spans, func(s sinkSpan) bool { return party(s) == hop.party && s.Name == hop.name }),
			"a %q span from %s", hop.name, hop.party)
	}
	// Our spans are named by route template. daprd's are not ours to name:
	// it calls its invocation spans CallLocal/<app>/<raw path>, ids and all.
	for _, s := range spans {
		if strings.HasSuffix(party(s), "/daprd") {
			continue
		}
		assert.NotContains(t, s.Name, o.ID, "span names use route templates, never ids")
		assert.NotContains(t, s.Name, u.ID, "span names use route templates, never ids")
	}
	sc.check(t)
}

// spanTree indexes a trace's spans by parent.
type spanTree struct {
	spans    []sinkSpan
	children map[string][]sinkSpan
	ids      map[string]bool
}

func newSpanTree(spans []sinkSpan) spanTree {
	tr := spanTree{spans: spans, children: map[string][]sinkSpan{}, ids: map[string]bool{}}
	for _, s := range spans {
		tr.ids[s.SpanID] = true
	}
	for _, s := range spans {
		tr.children[s.ParentID] = append(tr.children[s.ParentID], s)
	}
	return tr
}

// roots are the spans whose parent is not in the trace.
func (tr spanTree) roots() []sinkSpan {
	var r []sinkSpan
	for _, s := range tr.spans {
		if !tr.ids[s.ParentID] {
			r = append(r, s)
		}
	}
	return r
}

func (tr spanTree) depth() int {
	var walk func(id string) int
	walk = func(id string) int {
		d := 0
		for _, c := range tr.children[id] {
			d = max(d, walk(c.SpanID))
		}
		return d + 1
	}
	d := 0
	for _, r := range tr.roots() {
		d = max(d, walk(r.SpanID))
	}
	return d
}

func (tr spanTree) String() string {
	var b strings.Builder
	var walk func(s sinkSpan, indent int)
	walk = func(s sinkSpan, indent int) {
		fmt.Fprintf(&b, "%s%s  [%s %s]\n", strings.Repeat("  ", indent), s.Name, party(s), strings.ToLower(strings.TrimPrefix(s.Kind, "SPAN_KIND_")))
		for _, c := range tr.children[s.SpanID] {
			walk(c, indent+1)
		}
	}
	for _, r := range tr.roots() {
		walk(r, 0)
	}
	return b.String()
}
