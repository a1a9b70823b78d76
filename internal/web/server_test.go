package web

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShutdownDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		value   string
		want    time.Duration
		wantErr bool
	}{
		{name: "unset: none", value: "", want: 0},
		{name: "zero", value: "0s", want: 0},
		{name: "two seconds", value: "2s", want: 2 * time.Second},
		{name: "negative", value: "-1s", wantErr: true},
		{name: "not a duration", value: "2", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ShutdownDelay(func(k string) string {
				if k == ShutdownDelayVar {
					return tt.value
				}
				return ""
			})
			if tt.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), ShutdownDelayVar)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// After the stop signal, Serve goes on answering for its delay (what the
// app's sidecar needs to stop delivering to it), then shuts down.
func TestServeAnswersThroughItsDelay(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "pong") })
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, NewServer(addr, mux), slog.New(slog.DiscardHandler), 3*time.Second) }()
	get := func() (string, error) {
		resp, err := http.Get("http://" + addr + "/ping")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	require.Eventually(t, func() bool { _, err := get(); return err == nil }, 10*time.Second, 10*time.Millisecond, "listening")

	stop()
	body, err := get()
	require.NoError(t, err, "a request right after the stop signal is still served")
	assert.Equal(t, "pong", body)
	assert.Empty(t, served, "still serving")

	require.NoError(t, <-served)
	_, err = get()
	assert.Error(t, err, "the listener is closed once Serve has returned")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
