package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The messaging guarantees every profile is measured on (docs/profiles.md
// has the table). Each test asserts what every profile must give, and logs
// the figures with the profile's name.

func profileName() string {
	if p := os.Getenv("PROFILE"); p != "" {
		return p
	}
	return "local"
}

// orderFinishedEvent is an order.completed event for user u, as orders
// publishes it (its schema's required fields: recommendations, which
// subscribes too, would dead-letter less).
func orderFinishedEvent(id, userID, orderID string) map[string]any {
	return map[string]any{
		"specversion": "1.0", "id": id, "source": "e2e", "type": "com.daprshop.order.completed",
		"datacontenttype": "application/json",
		"data": map[string]any{"order_id": orderID, "user_id": userID, "status": "completed", "total_cents": 100,
			"items": []map[string]any{{"product_id": "e2e-latency", "quantity": 1}}},
	}
}

// publishKeyed publishes through orders' sidecar with a partition key
// (the Kafka component's key; the other components ignore it).
func publishKeyed(t *testing.T, topic, key string, event map[string]any) {
	t.Helper()
	publishWith(t, "orders", topic, "?metadata.partitionKey="+key, event)
}

// TestEventLatencyAndOrderPerKey publishes order events for one user, one
// after another, keyed by the user, and waits for each in the user's inbox:
// every event arrives exactly once; the figures are the publish-to-inbox
// latency and whether the inbox shows them in publish order.
func TestEventLatencyAndOrderPerKey(t *testing.T) {
	skipShort(t)
	userID := uuid.NewString()
	token := signedToken(t, userID)
	const n = 15
	var latencies []time.Duration
	var ids []string
	for i := range n {
		id := fmt.Sprintf("e2e-order-%02d-%s", i, uuid.NewString()[:8])
		ids = append(ids, id)
		began := time.Now()
		publishKeyed(t, "order.completed", userID, orderFinishedEvent(id, userID, uuid.NewString()))
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			assert.True(c, slices.ContainsFunc(inbox(c, token), func(x notification) bool { return x.ID == id }))
		}, 60*time.Second, 10*time.Millisecond, "event %d in the inbox", i)
		latencies = append(latencies, time.Since(began))
	}
	// A burst with the same key: is the order kept?
	var burst []string
	for i := range n {
		id := fmt.Sprintf("e2e-burst-%02d-%s", i, uuid.NewString()[:8])
		burst = append(burst, id)
		publishKeyed(t, "order.completed", userID, orderFinishedEvent(id, userID, uuid.NewString()))
	}
	var got []string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got = got[:0]
		for _, x := range inbox(c, token) {
			if slices.Contains(burst, x.ID) {
				got = append(got, x.ID)
			}
		}
		assert.Len(c, got, n, "every event of the burst, once")
	}, 60*time.Second, 50*time.Millisecond)
	slices.Reverse(got) // the inbox is newest first
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	promised, why := brokerKeepsOrderPerKey(t)
	t.Logf("profile %s: publish-to-inbox latency over %d events one at a time: median %s, max %s; a burst of %d with one key arrived in publish order: %t (%s)",
		profileName(), n, latencies[n/2].Round(time.Millisecond), latencies[n-1].Round(time.Millisecond), n, slices.Equal(got, burst), why)
	if promised {
		assert.Equal(t, burst, got, "the burst in publish order: %s", why)
	}
}

// brokerKeepsOrderPerKey says whether the running profile's pub/sub
// promises that events with one partition key reach the subscriber in
// publish order, and why, from its component's type: JetStream delivers a
// stream to its one durable consumer in order and daprd hands them over one
// at a time; Kafka keeps order within a partition, which the key chooses.
// RabbitMQ hands daprd several at once (prefetch), which daprd delivers
// concurrently, and Redis Streams too: neither promises it.
func brokerKeepsOrderPerKey(t *testing.T) (bool, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "components", profileName(), "pubsub.yaml"))
	require.NoError(t, err)
	var c struct {
		Spec struct {
			Type string `yaml:"type"`
		} `yaml:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(b, &c))
	switch c.Spec.Type {
	case "pubsub.jetstream":
		return true, "JetStream: one stream, one durable consumer, delivered one at a time"
	case "pubsub.kafka":
		return true, "Kafka: one partition per key"
	default:
		return false, c.Spec.Type + " does not promise order"
	}
}

// TestPoisonEventsAreDeadLettered publishes an event no subscriber can
// read to user.registered: both subscribers (notifications, payments) drop
// it, Dapr moves it to each one's dead-letter topic, and notifications,
// watching those, counts it.
func TestPoisonEventsAreDeadLettered(t *testing.T) {
	skipShort(t)
	dlqs := []string{"user.registered.notifications.deadletter", "user.registered.payments.deadletter"}
	before := map[string]float64{}
	for _, d := range dlqs {
		before[d] = deadLetterCount(t, d)
	}
	began := time.Now()
	publish(t, "users", "user.registered", map[string]any{
		"specversion": "1.0", "id": "poison-" + uuid.NewString(), "source": "e2e", "type": "com.daprshop.user.registered",
		"datacontenttype": "application/json", "data": map[string]any{"user_id": 42},
	})
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for _, d := range dlqs {
			assert.Equal(c, before[d]+1, deadLetterCountC(c, d), "dead letters on %s", d)
		}
	}, 90*time.Second, 100*time.Millisecond)
	t.Logf("profile %s: a poison event reached both dead-letter topics and was counted after %s",
		profileName(), time.Since(began).Round(time.Millisecond))
	// The subscribers go on: a good event after the poison is applied.
	u := registerUser(t, "AfterPoison")
	awaitWelcome(t, u)
}

// TestEventsSurviveASubscriberCrash kills the notifications app (SIGKILL)
// and publishes while it is down: the launcher restarts it, and every
// event is applied once.
func TestEventsSurviveASubscriberCrash(t *testing.T) {
	skipShort(t)
	old := sys.PID("notifications")
	require.NoError(t, sys.Kill("notifications"))
	began := time.Now()
	var users []string
	for range 3 {
		id := uuid.NewString()
		users = append(users, id)
		publish(t, "users", "user.registered", map[string]any{
			"specversion": "1.0", "id": "crash-" + id, "source": "e2e", "type": "com.daprshop.user.registered",
			"datacontenttype": "application/json", "data": map[string]string{"user_id": id, "email": "crash@example.com", "name": "Crash"},
		})
	}
	require.Eventually(t, func() bool { return sys.PID("notifications") != old && sys.PID("notifications") != 0 }, 30*time.Second, 50*time.Millisecond, "restarted")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, sys.WaitReady(ctx, "notifications"))
	for _, id := range users {
		token := signedToken(t, id)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			items := inbox(c, token)
			assert.Len(c, items, 1, "the welcome of %s, once", id)
		}, 90*time.Second, 100*time.Millisecond)
	}
	t.Logf("profile %s: 3 events published while the subscriber was killed were all applied, once, %s after the kill",
		profileName(), time.Since(began).Round(time.Millisecond))
}

// deadLetterCount reads notifications' daprshop_dead_letters_total{topic}.
func deadLetterCount(t *testing.T, topic string) float64 {
	t.Helper()
	return metricValue(t, "notifications", fmt.Sprintf(`daprshop_dead_letters_total{topic=%q} `, topic))
}

func deadLetterCountC(c *assert.CollectT, topic string) float64 {
	a, _ := sys.App("notifications")
	v, err := readMetric(a.Env["ADMIN_PORT"], fmt.Sprintf(`daprshop_dead_letters_total{topic=%q} `, topic))
	assert.NoError(c, err)
	return v
}
