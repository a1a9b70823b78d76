package daprdtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// StartNATS runs the pinned nats-server (make tools) with JetStream and one
// stream per topic, as the launcher does for the local profile, and returns
// its URL. It stops when the test ends.
func StartNATS(t *testing.T, topics ...string) string {
	t.Helper()
	bin := filepath.Join(repoRoot(t), ".bin", "nats-server")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("nats-server not found at %s: run `make tools` first", bin)
	}
	ports := FreePorts(t, 2)
	cmd := exec.Command(bin, "--addr", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
		"--http_port", strconv.Itoa(ports[1]), "--jetstream", "--store_dir", t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	url := fmt.Sprintf("nats://127.0.0.1:%d", ports[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	health := fmt.Sprintf("http://127.0.0.1:%d/healthz?js-enabled-only=true", ports[1])
	for {
		if resp, err := http.Get(health); err == nil { //nolint:noctx // bounded by the loop's deadline
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("nats-server not healthy:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
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
