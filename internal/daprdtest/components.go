package daprdtest

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// StoreEnv names the environment variable that chooses the kind of state
// store StateStore returns: "sqlite" (the default: the local and kafka
// profiles'), "daprshop-redis" (the redis profile's pluggable component on
// a Redis of the test's own), "postgres" or "mysql" (the postgres and mysql
// profiles' components, on the machine's servers, 127.0.0.1:5432 and :3306,
// in tables of the tests' own), or "stock-redis" (Dapr's state.redis, which
// the conformance suite holds up as a negative control). `make test-redis`
// runs the stores' contract tests on daprshop-redis, `make test-stores` the
// state layer's on every kind.
const StoreEnv = "DAPRSHOP_TEST_STATE_STORE"

// Store kinds, for StoreEnv and StateStoreOf.
const (
	SQLite        = "sqlite"
	DaprshopRedis = "daprshop-redis"
	StockRedis    = "stock-redis"
	Postgres      = "postgres"
	MySQL         = "mysql"
)

// StateStore returns, for Start, a state store component named name of the
// kind StoreEnv chooses (StateStoreOf). The apps' contract tests take their
// components from here, so that no file of a service names a component
// type (internal/launcher/profiles_test.go checks).
func StateStore(name string, opts ...StoreOption) string {
	return StateStoreOf(StoreKind(), name, opts...)
}

// StoreKind is the kind of state store StoreEnv chooses (SQLite unless it
// names another).
func StoreKind() string {
	if kind := os.Getenv(StoreEnv); kind != "" {
		return kind
	}
	return SQLite
}

// StateStoreOf returns a state store component of a kind. SQLite: a file
// in the sidecar's folder, with a busy timeout of 10 s (the contract tests
// race 50 transactions at one file under the race detector on two cores,
// and with 2 s some waited out the lock, SQLITE_BUSY, in CI). The Redis
// kinds: "{{redis}}", which Start replaces by a redis-server of the
// sidecar's own; for daprshop-redis Start also runs the component.
func StateStoreOf(kind, name string, opts ...StoreOption) string {
	typ, version := "", "v1"
	var meta [][2]string
	switch kind {
	case SQLite:
		typ = "state.sqlite"
		meta = [][2]string{{"connectionString", "{{dir}}/" + name + ".db"}, {"busyTimeout", "10s"}}
	case DaprshopRedis, StockRedis:
		typ = "state.redis"
		if kind == DaprshopRedis {
			typ = "state." + DaprshopRedis
		}
		meta = [][2]string{{"redisHost", "{{redis}}"}, {"redisDB", "0"}}
	case Postgres: // as components/postgres/ has it, in database postgres
		typ, version = "state.postgresql", "v2"
		meta = [][2]string{
			{"connectionString", "host=127.0.0.1 port=5432 user=postgres database=postgres connect_timeout=10"},
			{"tablePrefix", "daprshoptest_" + strings.ReplaceAll(name, "-", "_") + "_"},
			{"metadataTableName", "daprshoptest_dapr_metadata"},
		}
	case MySQL: // as components/mysql/ has it, in schema daprshoptest
		typ = "state.mysql"
		meta = [][2]string{
			{"connectionString", "root:@tcp(127.0.0.1:3306)/?allowNativePasswords=true&parseTime=true&tx_isolation=%27READ-COMMITTED%27&innodb_lock_wait_timeout=3"},
			{"schemaName", "daprshoptest"},
			{"tableName", strings.ReplaceAll(name, "-", "_") + "_state"},
			{"metadataTableName", "daprshoptest_dapr_metadata"},
			{"cleanupInterval", "1m"},
		}
	default:
		panic(fmt.Sprintf("daprdtest: unknown state store kind %q (%s)", kind, StoreEnv))
	}
	for _, o := range opts {
		meta = append(meta, o()...)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: %s\n  version: %s\n  metadata:\n", name, typ, version)
	for _, kv := range meta {
		fmt.Fprintf(&b, "    - name: %s\n      value: %q\n", kv[0], kv[1])
	}
	return b.String()
}

// StoreOption adds metadata to a StateStore.
type StoreOption func() [][2]string

// WithActorStateStore makes the store the one that actors and workflows
// keep their state in.
func WithActorStateStore() StoreOption {
	return func() [][2]string { return [][2]string{{"actorStateStore", "true"}} }
}

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
func PubSub(t testing.TB, name string, topics ...string) string {
	t.Helper()
	return StartBroker(t, topics...).Component(name)
}

// Broker is the local profile's broker, started for one test.
type Broker struct {
	URL string
}

// StartBroker starts the broker with a stream per topic (StartNATS).
func StartBroker(t testing.TB, topics ...string) *Broker {
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

// BenchStoreKinds are the kinds of state store a benchmark compares across:
// SQLite always, PostgreSQL and MySQL when their servers answer on
// 127.0.0.1 (5432, 3306: the postgres and mysql profiles' servers).
func BenchStoreKinds() []string {
	kinds := []string{SQLite}
	for _, s := range []struct{ kind, addr string }{{Postgres, "127.0.0.1:5432"}, {MySQL, "127.0.0.1:3306"}} {
		if c, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
			_ = c.Close()
			kinds = append(kinds, s.kind)
		}
	}
	return kinds
}
