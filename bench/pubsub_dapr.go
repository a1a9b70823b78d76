package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/cloudevent"
	"github.com/daprshop/daprshop/internal/sidecar"
)

// The Dapr side of part 3: the subscriber app (an HTTP server here, as
// every service is), and the ways a publisher reaches its sidecar.

const (
	// parallelTopic and bulkTopic are on the component's variant that
	// hands daprd messages in parallel (parallelVariant): parallelTopic
	// is delivered one message a request, bulkTopic in batches (bulk
	// subscribe). daprTopic is on the local profile's component as it is,
	// one message a request, as the shop's subscriptions are.
	parallelTopic = "bench.dapr.parallel"
	bulkTopic     = "bench.dapr.bulk"
	// parallelPubSub is the variant's component name.
	parallelPubSub = "pubsub-parallel"
	// bulkSize is the messages of one bulk publish call and the most of
	// one bulk delivery.
	bulkSize = 100
	// bulkAwait is how long the subscriber's sidecar waits to fill a bulk
	// delivery.
	bulkAwait = 20 * time.Millisecond
)

// serveSubscriber answers daprd's subscription discovery and delivers each
// message to col (one collector for all Dapr paths: they run one after
// another, and a run id tells their messages apart). Each message is read
// as the shop's consumers read one (cloudevent.Decode).
func serveSubscriber(col *collector) (port int, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `[{"pubsubname":"pubsub","topic":%q,"route":"/events"},`+
			`{"pubsubname":%q,"topic":%q,"route":"/events"},`+
			`{"pubsubname":%q,"topic":%q,"routes":{"default":"/events-bulk"},"bulkSubscribe":{"enabled":true,"maxMessagesCount":%d,"maxAwaitDurationMs":%d}}]`,
			daprTopic, parallelPubSub, parallelTopic, parallelPubSub, bulkTopic, bulkSize, bulkAwait.Milliseconds())
	})
	mux.HandleFunc("POST /events", func(w http.ResponseWriter, r *http.Request) {
		var m message
		if _, err := cloudevent.Decode(r, &m); err != nil {
			cloudevent.Respond(w, cloudevent.Drop)
			return
		}
		col.deliver(m)
		cloudevent.Respond(w, cloudevent.Success)
	})
	mux.HandleFunc("POST /events-bulk", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Entries []struct {
				EntryID string `json:"entryId"`
				Event   struct {
					Data message `json:"data"`
				} `json:"event"`
			} `json:"entries"`
		}
		type status struct {
			EntryID string            `json:"entryId"`
			Status  cloudevent.Status `json:"status"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out := struct {
			Statuses []status `json:"statuses"`
		}{Statuses: make([]status, len(req.Entries))}
		for i, e := range req.Entries {
			col.deliver(e.Event.Data)
			out.Statuses[i] = status{EntryID: e.EntryID, Status: cloudevent.Success}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().(*net.TCPAddr).Port, func() { _ = srv.Close() }, nil
}

// daprPaths are the ways a publisher hands messages to its sidecar: over
// HTTP with a bare JSON body (daprd wraps it in a CloudEvent), over gRPC
// with the shop's own CloudEvent as the services publish
// (cloudevent.Envelope through the go-sdk on internal/sidecar's
// connection), and over gRPC in bulk (bulkSize messages a call), to a
// subscription that takes them one at a time or in bulk.
func daprPaths(pub *daprd, col *collector) ([]*pubsubPath, func(), error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	hc := &http.Client{Transport: t, Timeout: 10 * time.Second}
	publishURL := pub.base() + "/v1.0/publish/pubsub/" + daprTopic
	client, err := sidecar.Dial(sidecar.Config{Host: "127.0.0.1", HTTPPort: strconv.Itoa(pub.HTTPPort), GRPCPort: strconv.Itoa(pub.GRPCPort), APIToken: daprToken})
	if err != nil {
		return nil, nil, err
	}
	one := func(pubsub, topic string) func(ctx context.Context, m message) error {
		return func(ctx context.Context, m message) error {
			b, err := cloudevent.Envelope(topic, strconv.FormatInt(m.Run, 10)+"-"+strconv.FormatInt(m.Seq, 10), "benchpub", m)
			if err != nil {
				return err
			}
			return client.PublishEvent(ctx, pubsub, topic, b, dapr.PublishEventWithContentType(cloudevent.ContentType))
		}
	}
	bulk := func(pubsub, topic string) func(ctx context.Context, ms []message) error {
		return func(ctx context.Context, ms []message) error {
			events := make([]any, len(ms))
			for i, m := range ms {
				b, err := cloudevent.Envelope(topic, strconv.FormatInt(m.Run, 10)+"-"+strconv.FormatInt(m.Seq, 10), "benchpub", m)
				if err != nil {
					return err
				}
				events[i] = dapr.PublishEventsEvent{EntryID: strconv.Itoa(i), Data: b, ContentType: cloudevent.ContentType}
			}
			res := client.PublishEvents(ctx, pubsub, topic, events)
			if res.Error != nil {
				return fmt.Errorf("bulk publish: %d of %d failed: %w", len(res.FailedEvents), len(ms), res.Error)
			}
			return nil
		}
	}
	paths := []*pubsubPath{
		{key: "dapr", label: "Dapr, HTTP publish, bare JSON", col: col, publish: func(ctx context.Context, m message) error {
			body, _ := json.Marshal(m)
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, publishURL, bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Dapr-Api-Token", daprToken)
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				return fmt.Errorf("publish: status %d", resp.StatusCode)
			}
			return nil
		}},
		{key: "dapr-grpc", label: "Dapr, gRPC publish, the shop's CloudEvent", col: col, publish: one("pubsub", daprTopic)},
		{key: "dapr-bulk-pub", label: fmt.Sprintf("Dapr, gRPC bulk publish (%d a call)", bulkSize), col: col, batch: bulkSize, publishMany: bulk("pubsub", daprTopic)},
		{key: "dapr-parallel", label: "Dapr, gRPC publish, delivered in parallel", col: col, publish: one(parallelPubSub, parallelTopic)},
		{key: "dapr-bulk", label: fmt.Sprintf("Dapr, gRPC bulk publish, bulk subscribe in parallel (%d, %s)", bulkSize, bulkAwait), col: col, batch: bulkSize, publishMany: bulk(parallelPubSub, bulkTopic)},
	}
	return paths, func() { client.Close() }, nil
}

// parallelVariant is the component under the name parallelPubSub with
// concurrencyMode parallel: JetStream's messages handed to daprd at once
// (up to the consumer's pending-ack limit) instead of one after another's
// ack. The shop's own component keeps the default (single), which keeps
// the order of a stream's messages (tests/messaging_test.go).
func parallelVariant(component string) (string, error) {
	const name, meta = "\n  name: pubsub\n", "\n  metadata:\n"
	if strings.Count(component, name) != 1 || strings.Count(component, meta) != 1 || strings.Contains(component, "- name: concurrencyMode") {
		return "", fmt.Errorf("components/local/pubsub.yaml: want one %q, one %q and no concurrencyMode", strings.TrimSpace(name), strings.TrimSpace(meta))
	}
	c := strings.Replace(component, name, "\n  name: "+parallelPubSub+"\n", 1)
	return strings.Replace(c, meta, meta+"    - name: concurrencyMode\n      value: parallel\n", 1), nil
}

// grantTopics adds topics to the component's topic scoping (allowedTopics,
// protectedTopics, and the publishing and subscription scopes of the two
// bench apps), so that the benchmark's sidecars run the same scope checks
// as the shop's, on topics of their own.
func grantTopics(component, pubApp, subApp string, topics ...string) (string, error) {
	list := strings.Join(topics, ",")
	add := map[string]string{
		"allowedTopics":      "," + list,
		"protectedTopics":    "," + list,
		"publishingScopes":   ";" + pubApp + "=" + list,
		"subscriptionScopes": ";" + subApp + "=" + list,
	}
	lines := strings.Split(component, "\n")
	for i := 0; i+1 < len(lines); i++ {
		name, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "- name: ")
		suffix, scoped := add[name]
		if !ok || !scoped {
			continue
		}
		value := strings.TrimSpace(lines[i+1])
		if !strings.HasPrefix(value, `value: "`) || !strings.HasSuffix(value, `"`) {
			return "", fmt.Errorf("components/local/pubsub.yaml: %s is not a quoted value on the next line", name)
		}
		lines[i+1] = strings.TrimSuffix(lines[i+1], `"`) + suffix + `"`
		delete(add, name)
	}
	if len(add) > 0 {
		return "", fmt.Errorf("components/local/pubsub.yaml lacks %d of the topic scoping fields", len(add))
	}
	return strings.Join(lines, "\n"), nil
}
