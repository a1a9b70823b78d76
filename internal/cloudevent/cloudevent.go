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

// Handler turns apply into a subscription route with the project's rules
// for answering Dapr: a payload that cannot be decoded or fails Validate is
// dropped (DROP: Dapr dead-letters it); apply's success, or its report that
// the event was applied before, acknowledges (SUCCESS); an error from apply
// wrapping ErrPoison drops; any other error asks for redelivery (RETRY).
func Handler[T Validator](logger *slog.Logger, apply func(ctx context.Context, ev Event, data T) (applied bool, err error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var data T
		ev, err := Decode(r, &data)
		if err == nil {
			if verr := data.Validate(); verr != nil {
				err = fmt.Errorf("%w: %v", ErrPoison, verr)
			}
		}
		if err == nil {
			var applied bool
			applied, err = apply(r.Context(), ev, data)
			if err == nil {
				logger.InfoContext(r.Context(), "event applied", "event_id", ev.ID, "topic", ev.Topic, "duplicate", !applied)
				Respond(w, Success)
				return
			}
		}
		if errors.Is(err, ErrPoison) {
			logger.WarnContext(r.Context(), "event dropped", "event_id", ev.ID, "error", err.Error())
			Respond(w, Drop)
			return
		}
		logger.ErrorContext(r.Context(), "event not applied; dapr will redeliver it", "event_id", ev.ID, "error", err.Error())
		Respond(w, Retry)
	})
}
