// Package cloudevent reads the CloudEvents that Dapr delivers to subscription
// routes and writes the answers Dapr understands: SUCCESS, RETRY or DROP.
package cloudevent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// MaxBytes bounds an event body; a bigger one is poison.
const MaxBytes = 1 << 20

// Event is the envelope of a delivered CloudEvent. Attributes the project
// does not use (traceparent, pubsubname, ...) are ignored on purpose: events
// are read tolerantly so that a producer may add fields without breaking
// consumers.
type Event struct {
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Topic           string          `json:"topic"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// ErrPoison marks an event that can never be processed; the subscriber
// answers DROP and Dapr moves it to the dead-letter topic.
var ErrPoison = errors.New("poison event")

// Decode reads the envelope and unmarshals its data into v. A malformed
// event wraps ErrPoison (retrying cannot help); a body that could not be
// read (a connection cut) does not, and is worth a retry.
func Decode(r *http.Request, v any) (Event, error) {
	var ev Event
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBytes+1))
	if err != nil {
		return ev, fmt.Errorf("read event: %w", err)
	}
	if len(body) > MaxBytes {
		return ev, fmt.Errorf("%w: event larger than %d bytes", ErrPoison, MaxBytes)
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, fmt.Errorf("%w: envelope is not a JSON CloudEvent: %v", ErrPoison, err)
	}
	if ev.ID == "" {
		return ev, fmt.Errorf("%w: event has no id", ErrPoison)
	}
	data := ev.Data
	// Data published as a JSON string holding JSON is unwrapped once.
	var s string
	if json.Unmarshal(data, &s) == nil {
		data = json.RawMessage(s)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return ev, fmt.Errorf("%w: event %s data: %v", ErrPoison, ev.ID, err)
	}
	return ev, nil
}

// Status is what a subscriber tells Dapr about one event.
type Status string

// The statuses Dapr acts on.
const (
	Success Status = "SUCCESS" // processed (or already processed): ack
	Retry   Status = "RETRY"   // transient failure: redeliver later
	Drop    Status = "DROP"    // poison: never retry, dead-letter it
)

// Respond answers Dapr. The HTTP status is 200 in every case: Dapr reads the
// body, and a 404 would make it drop the event silently.
func Respond(w http.ResponseWriter, s Status) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]Status{"status": s})
}

// Validator is implemented by event payloads that check their own fields;
// an invalid payload is poison.
type Validator interface {
	Validate() error
}

// handled counts events by subscribed topic and by what the subscriber
// told Dapr.
var handled = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "daprshop_events_handled_total",
	Help: "Events delivered to a subscription route, by topic and outcome: success (applied), duplicate (applied before), retry (Dapr redelivers) or drop (poison: dead-lettered).",
}, []string{"topic", "outcome"})

// The outcomes of one delivery, as counted.
const (
	outcomeSuccess   = "success"
	outcomeDuplicate = "duplicate"
	outcomeRetry     = "retry"
	outcomeDrop      = "drop"
)

// Handler turns apply into the subscription route for topic, with the
// project's rules for answering Dapr: a payload that cannot be decoded or
// fails Validate is dropped (DROP: Dapr dead-letters it); apply's success,
// or its report that the event was applied before, acknowledges (SUCCESS);
// an error from apply wrapping ErrPoison drops; any other error asks for
// redelivery (RETRY). Each delivery is counted by outcome, and its span
// (made by the app's middleware from the traceparent Dapr sends) records
// the event id and outcome.
func Handler[T Validator](logger *slog.Logger, topic string, apply func(ctx context.Context, ev Event, data T) (applied bool, err error)) http.Handler {
	for _, o := range []string{outcomeSuccess, outcomeDuplicate, outcomeRetry, outcomeDrop} {
		handled.WithLabelValues(topic, o) // every series exists from the start, at 0
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		span := trace.SpanFromContext(r.Context())
		answer := func(s Status, outcome string) {
			handled.WithLabelValues(topic, outcome).Inc()
			span.SetAttributes(attribute.String("messaging.destination.name", topic), attribute.String("daprshop.event.outcome", outcome))
			Respond(w, s)
		}
		var data T
		ev, err := Decode(r, &data)
		if ev.ID != "" {
			span.SetAttributes(attribute.String("messaging.message.id", ev.ID))
		}
		if err == nil {
			if verr := data.Validate(); verr != nil {
				err = fmt.Errorf("%w: %v", ErrPoison, verr)
			}
		}
		if err == nil {
			var applied bool
			applied, err = apply(r.Context(), ev, data)
			if err == nil {
				logger.InfoContext(r.Context(), "event applied", "event_id", ev.ID, "topic", topic, "duplicate", !applied)
				if applied {
					answer(Success, outcomeSuccess)
				} else {
					answer(Success, outcomeDuplicate)
				}
				return
			}
		}
		if errors.Is(err, ErrPoison) {
			logger.WarnContext(r.Context(), "event dropped", "event_id", ev.ID, "topic", topic, "error", err.Error())
			span.SetStatus(codes.Error, "poison event dropped")
			answer(Drop, outcomeDrop)
			return
		}
		logger.ErrorContext(r.Context(), "event not applied; dapr will redeliver it", "event_id", ev.ID, "topic", topic, "error", err.Error())
		span.SetStatus(codes.Error, "event not applied")
		answer(Retry, outcomeRetry)
	})
}

// deadLetters counts the events that reached a dead-letter topic.
var deadLetters = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "daprshop_dead_letters_total",
	Help: "Events received on a dead-letter topic: a subscriber dropped them as poison, or Dapr gave up redelivering them.",
}, []string{"topic"})

// DeadLetterHandler is the subscription route for the dead-letter topic
// dlq: it logs each event whole (up to MaxBytes) at error level, so a human
// can see and replay it, counts it, and acknowledges it. It never asks for
// redelivery: a dead letter must not become a loop.
func DeadLetterHandler(logger *slog.Logger, dlq string) http.Handler {
	deadLetters.WithLabelValues(dlq) // the series exists from the start, at 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBytes))
		if err != nil {
			// Cut off mid-body: the same event comes again.
			Respond(w, Retry)
			return
		}
		var ev Event
		_ = json.Unmarshal(body, &ev) // logged raw below when not an envelope
		deadLetters.WithLabelValues(dlq).Inc()
		trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("messaging.destination.name", dlq), attribute.String("messaging.message.id", ev.ID))
		logger.ErrorContext(r.Context(), "dead letter received", "topic", dlq, "event_id", ev.ID, "event_type", ev.Type, "event_source", ev.Source, "original_topic", ev.Topic, "event", json.RawMessage(validJSONOr(body)))
		Respond(w, Success)
	})
}

// validJSONOr returns body when it is JSON, else body as a JSON string, so
// that the log line stays one valid JSON object.
func validJSONOr(body []byte) []byte {
	if json.Valid(body) {
		return body
	}
	b, _ := json.Marshal(string(body))
	return b
}
