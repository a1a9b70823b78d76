package daprdtest

import (
	"fmt"
	"strings"
	"testing"
)

// StateStore returns, for Start, a state store component named name of the
// local profile's kind: a SQLite file in the sidecar's folder. Its busy
// timeout is 10 s: the contract tests race 50 transactions at one file under
// the race detector on two cores, and with 2 s some waited out the lock
// (SQLITE_BUSY; seen in CI). The apps'
// contract tests take their components from here, so that no file of a
// service names a component type (internal/launcher/profiles_test.go checks).
func StateStore(name string, opts ...StoreOption) string {
	meta := map[string]string{
		"connectionString": "{{dir}}/" + name + ".db",
		"busyTimeout":      "10s",
	}
	keys := []string{"connectionString", "busyTimeout"}
	for _, o := range opts {
		for _, kv := range o() {
			if _, ok := meta[kv[0]]; !ok {
				keys = append(keys, kv[0])
			}
			meta[kv[0]] = kv[1]
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: state.sqlite\n  version: v1\n  metadata:\n", name)
	for _, k := range keys {
		fmt.Fprintf(&b, "    - name: %s\n      value: %q\n", k, meta[k])
	}
	return b.String()
}

// StoreOption adds metadata to a StateStore.
type StoreOption func() [][2]string

// WithOutbox turns on the store's transactional outbox, publishing each
// saved state to topic through the pub/sub component pubsub.
func WithOutbox(pubsub, topic string) StoreOption {
	return func() [][2]string {
		return [][2]string{
			{"outboxPublishPubsub", pubsub},
			{"outboxPublishTopic", topic},
			{"outboxDiscardWhenMissingState", "true"},
		}
	}
}

// PubSub starts the local profile's broker for the test (NATS JetStream,
// StartNATS, with a stream per topic) and returns, for Start, a pub/sub
// component named name on it, one durable consumer per app. (Not
// pubsub.in-memory: with it daprd's outbox delivers to itself synchronously
// and outbox transactions stall behind each other; seen here, a test hung.)
func PubSub(t *testing.T, name string, topics ...string) string {
	t.Helper()
	return StartBroker(t, topics...).Component(name)
}

// Broker is the local profile's broker, started for one test.
type Broker struct {
	URL string
}

// StartBroker starts the broker with a stream per topic (StartNATS).
func StartBroker(t *testing.T, topics ...string) *Broker {
	t.Helper()
	return &Broker{URL: StartNATS(t, topics...)}
}

// Component returns, for Start, a pub/sub component named name on the
// broker, one durable consumer per app.
func (b *Broker) Component(name string) string {
	return fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: %s
spec:
  type: pubsub.jetstream
  version: v1
  metadata:
    - name: natsURL
      value: %s
    - name: durableName
      value: "{appID}"
`, name, b.URL)
}
