package daprdtest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/daprproc"
)

// StartNATS runs the pinned nats-server (make tools) with JetStream and one
// stream per topic, as the launcher does for the local profile, and returns
// its URL. It stops when the test ends.
func StartNATS(t testing.TB, topics ...string) string {
	t.Helper()
	bin := filepath.Join(repoRoot(t), ".bin", "nats-server")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("nats-server not found at %s: run `make tools` first", bin)
	}
	ports := FreePorts(t, 2)
	n := daprproc.NATS{Port: ports[0], MonitorPort: ports[1], StoreDir: t.TempDir()}
	Run(t, n.Spec(bin, "", nil), 30*time.Second)
	url := n.URL()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range topics {
		if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: streamName(topic), Subjects: []string{topic}, Storage: jetstream.MemoryStorage}); err != nil {
			t.Fatalf("create stream for %s: %v", topic, err)
		}
	}
	return url
}

// Published returns the data of every CloudEvent on topic's stream, in
// the order the broker stored them: what a sidecar really published.
func (b *Broker) Published(t require.TestingT, topic string) []json.RawMessage {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect(b.URL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	stream, err := js.Stream(ctx, streamName(topic))
	require.NoError(t, err)
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	var out []json.RawMessage
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		require.NoError(t, err)
		var ce struct {
			Data json.RawMessage `json:"data"`
		}
		require.NoError(t, json.Unmarshal(msg.Data, &ce), "a CloudEvent on %s: %s", topic, msg.Data)
		out = append(out, ce.Data)
	}
	return out
}

func streamName(topic string) string {
	return strings.NewReplacer(".", "_", "*", "_", ">", "_").Replace(topic)
}
