package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeProbeStop runs the component on a socket, probes it as a
// container's probe does, and stops it: the socket goes with it, and the
// probe then fails.
func TestServeProbeStop(t *testing.T) {
	folder, err := os.MkdirTemp("", "sockets-") // short: a socket path has 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(folder) })
	getenv := func(string) string { return "" }
	args := []string{"-socket-folder", folder}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, getenv, io.Discard) }()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.NoError(c, run(t.Context(), append(args, "-probe"), getenv, io.Discard))
	}, 10*time.Second, 20*time.Millisecond)

	cancel()
	require.NoError(t, <-done)
	assert.NoFileExists(t, filepath.Join(folder, "daprshop-redis.sock"))
	assert.Error(t, run(t.Context(), append(args, "-probe"), getenv, io.Discard))
}
