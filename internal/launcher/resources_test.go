package launcher

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/daprshop/daprshop/internal/daprdtest"
	"github.com/daprshop/daprshop/internal/proc"
)

func TestReadResources(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   map[string]string
		want    []string // kind/name of every resource, in order
		wantErr string
	}{
		{
			name: "multi-document YAML across yaml and yml files",
			files: map[string]string{
				"a.yaml": `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.jetstream
  metadata:
    - name: natsURL
      value: nats://127.0.0.1:4322
---
# a document with only a comment is skipped
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: sub
spec:
  pubsubname: pubsub
  topic: t1
  deadLetterTopic: t1.dead
scopes: [app1]
`,
				"b.yml":         "kind: Resiliency\nmetadata:\n  name: retries\n",
				"c.yaml":        "metadata:\n  name: no-kind\n",
				"notes.txt":     "kind: Component\nmetadata: {name: ignored-extension}\n",
				"README.md":     "not: [valid yaml",
				"sub/deep.yaml": "kind: Component\nmetadata:\n  name: in-a-subfolder\n",
				"empty.yaml":    "",
				"comments.yaml": "# only a comment\n",
			},
			want: []string{"Component/pubsub", "Subscription/sub", "Resiliency/retries"},
		},
		{
			name:    "invalid YAML names the file",
			files:   map[string]string{"bad.yaml": "kind: Component\nmetadata: [unclosed\n"},
			wantErr: "bad.yaml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)

			res, err := readResources([]string{dir})
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.ErrorContains(t, err, "parse")
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			got := make([]string, 0, len(res))
			for _, r := range res {
				got = append(got, r.Kind+"/"+r.Metadata.Name)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestReadResourcesFields(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"sub.yaml": `kind: Subscription
metadata:
  name: sub
spec:
  pubsubname: pubsub
  topic: orders
  deadLetterTopic: orders.dead
  metadata:
    - name: key
      value: val
scopes: [app1, app2]
`})

	res, err := readResources([]string{dir})
	require.NoError(t, err)
	require.Len(t, res, 1)
	r := res[0]
	assert.Equal(t, "pubsub", r.Spec.PubsubName)
	assert.Equal(t, "orders", r.Spec.Topic)
	assert.Equal(t, "orders.dead", r.Spec.DeadLetterTopic)
	assert.Equal(t, []string{"app1", "app2"}, r.Scopes)
	assert.Equal(t, "val", r.meta("key"))
	assert.Empty(t, r.meta("missing"))
}

func TestReadResourcesSeveralFoldersAndMissingFolder(t *testing.T) {
	t.Parallel()
	first, second := t.TempDir(), t.TempDir()
	writeFiles(t, first, map[string]string{"x.yaml": "kind: Component\nmetadata:\n  name: one\n"})
	writeFiles(t, second, map[string]string{"x.yaml": "kind: Component\nmetadata:\n  name: two\n"})

	res, err := readResources([]string{first, second})
	require.NoError(t, err)
	require.Len(t, res, 2)
	assert.Equal(t, "one", res[0].Metadata.Name)
	assert.Equal(t, "two", res[1].Metadata.Name)

	_, err = readResources([]string{first, filepath.Join(second, "missing")})
	assert.ErrorContains(t, err, "read resources")
}

// parseResources decodes the YAML documents in docs.
func parseResources(t *testing.T, docs string) []resource {
	t.Helper()
	var out []resource
	dec := yaml.NewDecoder(strings.NewReader(docs))
	for {
		var r resource
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, r)
	}
}

const jetStreamPubsubDoc = `kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.jetstream
  metadata:
    - name: natsURL
      value: nats://127.0.0.1:4322
`

func TestJetStreamTopics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		docs      string
		namespace string
		want      []jetStreamPubsub
	}{
		{
			name: "subscription topics and dead-letter topics of the matching pubsub only",
			docs: jetStreamPubsubDoc + `---
kind: Subscription
metadata: {name: s1}
spec: {pubsubname: pubsub, topic: orders, deadLetterTopic: orders.dead}
---
kind: Subscription
metadata: {name: s2}
spec: {pubsubname: pubsub, topic: payments}
---
kind: Subscription
metadata: {name: s3}
spec: {pubsubname: pubsub, topic: orders}
---
kind: Subscription
metadata: {name: other}
spec: {pubsubname: redis, topic: not-mine, deadLetterTopic: not-mine.dead}
`,
			namespace: "default",
			want:      []jetStreamPubsub{{Name: "pubsub", NatsURL: "nats://127.0.0.1:4322", Topics: []string{"orders", "orders.dead", "payments"}}},
		},
		{
			name: "publishingScopes",
			docs: `kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.jetstream
  metadata:
    - name: natsURL
      value: nats://nats:4222
    - name: publishingScopes
      value: "app1=t1,t2;app2=t3; app3 = t4 , ;app4=;app5"
`,
			namespace: "default",
			want:      []jetStreamPubsub{{Name: "pubsub", NatsURL: "nats://nats:4222", Topics: []string{"t1", "t2", "t3", "t4"}}},
		},
		{
			name: "outbox topic and the internal topic of every scoped app",
			docs: jetStreamPubsubDoc + `---
kind: Component
metadata:
  name: store
spec:
  type: state.sqlite
  metadata:
    - name: outboxPublishPubsub
      value: pubsub
    - name: outboxPublishTopic
      value: user.registered
scopes: [users, admin]
`,
			namespace: "prod",
			want: []jetStreamPubsub{{Name: "pubsub", NatsURL: "nats://127.0.0.1:4322", Topics: []string{
				"prodadminuser.registeredoutbox", "produsersuser.registeredoutbox", "user.registered",
			}}},
		},
		{
			name: "outboxPubsub moves the internal topics to another pubsub",
			docs: jetStreamPubsubDoc + `---
kind: Component
metadata:
  name: internal
spec:
  type: pubsub.jetstream
  metadata:
    - name: natsURL
      value: nats://127.0.0.1:5000
---
kind: Component
metadata:
  name: store
spec:
  type: state.postgresql
  metadata:
    - name: outboxPublishPubsub
      value: pubsub
    - name: outboxPublishTopic
      value: orders
    - name: outboxPubsub
      value: internal
scopes: [shop]
`,
			namespace: "default",
			want: []jetStreamPubsub{
				{Name: "pubsub", NatsURL: "nats://127.0.0.1:4322", Topics: []string{"orders"}},
				{Name: "internal", NatsURL: "nats://127.0.0.1:5000", Topics: []string{"defaultshopordersoutbox"}},
			},
		},
		{
			name: "outbox of a store publishing to another pubsub adds nothing",
			docs: jetStreamPubsubDoc + `---
kind: Component
metadata:
  name: store
spec:
  type: state.redis
  metadata:
    - name: outboxPublishPubsub
      value: kafka
    - name: outboxPublishTopic
      value: orders
scopes: [shop]
---
kind: Component
metadata:
  name: binding
spec:
  type: bindings.kafka
  metadata:
    - name: outboxPublishPubsub
      value: pubsub
    - name: outboxPublishTopic
      value: not-a-state-store
scopes: [shop]
---
kind: Component
metadata:
  name: plain-store
spec:
  type: state.redis
  metadata:
    - name: outboxPublishPubsub
      value: pubsub
scopes: [shop]
`,
			namespace: "default",
			want:      []jetStreamPubsub{{Name: "pubsub", NatsURL: "nats://127.0.0.1:4322", Topics: []string{}}},
		},
		{
			name: "non-jetstream pubsubs are ignored",
			docs: `kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.redis
  metadata:
    - name: publishingScopes
      value: app1=t1
---
kind: Subscription
metadata: {name: s1}
spec: {pubsubname: pubsub, topic: orders}
---
kind: Configuration
metadata:
  name: pubsub
spec:
  type: pubsub.jetstream
`,
			namespace: "default",
			want:      nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := jetStreamTopics(parseResources(t, tt.docs), tt.namespace, []string{"users", "orders"})
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestJetStreamTopicsOfTheRepository(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	res, err := readResources([]string{filepath.Join(root, "components", "local"), filepath.Join(root, "dapr", "resources")})
	require.NoError(t, err)

	got := jetStreamTopics(res, "default", []string{"gateway", "users", "notifications"})

	require.Len(t, got, 1)
	assert.Equal(t, "pubsub", got[0].Name)
	assert.Equal(t, "nats://127.0.0.1:4322", got[0].NatsURL)
	assert.Equal(t, []string{
		"defaultusersuser.registeredoutbox",
		"order.cancelled", "order.cancelled.notifications.deadletter",
		"order.completed", "order.completed.notifications.deadletter", "order.completed.recommendations.deadletter",
		"user.registered", "user.registered.notifications.deadletter", "user.registered.payments.deadletter",
	}, got[0].Topics)
}

func TestStreamName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		topic string
		want  string
	}{
		{name: "dots", topic: "user.registered.deadletter", want: "user_registered_deadletter"},
		{name: "wildcards", topic: "orders.*.>", want: "orders____"},
		{name: "slashes", topic: "a/b\\c", want: "a_b_c"},
		{name: "whitespace", topic: "a b\tc", want: "a_b_c"},
		{name: "valid name unchanged", topic: "defaultusers-outbox_1", want: "defaultusers-outbox_1"},
		{name: "empty", topic: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, streamName(tt.topic))
		})
	}
}

// A store without scopes is loaded by every app, so each app's sidecar
// publishes to its own internal outbox topic; a subscription without a
// topic adds no (nameless) stream.
func TestJetStreamTopicsUnscopedOutboxAndEmptyTopic(t *testing.T) {
	t.Parallel()
	res := parseResources(t, `
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.jetstream
  metadata:
    - name: natsURL
      value: nats://127.0.0.1:4322
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: shared-store
spec:
  type: state.sqlite
  metadata:
    - name: outboxPublishPubsub
      value: pubsub
    - name: outboxPublishTopic
      value: things
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: no-topic
spec:
  pubsubname: pubsub
`)
	got := jetStreamTopics(res, "default", []string{"a", "b"})
	require.Len(t, got, 1)
	assert.Equal(t, []string{"defaultathingsoutbox", "defaultbthingsoutbox", "things"}, got[0].Topics)
}

func TestEnsureStreamsRefusesClashingNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "res.yaml"), []byte(`
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.jetstream
  metadata:
    - name: natsURL
      value: nats://127.0.0.1:1
    - name: publishingScopes
      value: "app=order.paid,order_paid"
`), 0o644))
	s := &System{apps: []App{{AppSettings: AppSettings{AppID: "app", SharedSettings: SharedSettings{ResourcesPaths: []string{dir}}}}}}
	err := s.ensureStreams(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"order.paid" and "order_paid"`)
}

// A profile on the machine's NATS server keeps its streams between runs; a
// fresh system must not see the last run's messages.
func TestEnsureStreamsEmptiesThemForAFreshSystem(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nats-server")
	}
	url := daprdtest.StartNATS(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "res.yaml"), []byte(`
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.jetstream
  metadata:
    - name: natsURL
      value: `+url+`
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: things
spec:
  pubsubname: pubsub
  topic: things
  routes:
    default: /things
`), 0o644))

	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	messages := func() uint64 {
		st, err := js.Stream(t.Context(), streamName("things"))
		require.NoError(t, err)
		info, err := st.Info(t.Context())
		require.NoError(t, err)
		return info.State.Msgs
	}

	for _, tc := range []struct {
		fresh bool
		want  uint64
	}{
		{fresh: false, want: 1}, // the message published below is kept
		{fresh: true, want: 0},
	} {
		s := &System{
			cfg:  Config{Fresh: tc.fresh},
			apps: []App{{AppSettings: AppSettings{AppID: "app", SharedSettings: SharedSettings{ResourcesPaths: []string{dir}}}}},
			out:  proc.NewLines(io.Discard, "launcher"),
		}
		require.NoError(t, s.ensureStreams(t.Context()))
		if !tc.fresh {
			_, err := js.Publish(t.Context(), "things", []byte("old"))
			require.NoError(t, err)
			require.NoError(t, s.ensureStreams(t.Context()))
		}
		assert.Equal(t, tc.want, messages(), "fresh=%v", tc.fresh)
	}
}
