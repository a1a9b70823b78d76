package proc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	t.Parallel()
	ports, err := FreePorts(1)
	require.NoError(t, err)
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	tests := []struct {
		name    string
		spec    Spec
		wantErr []string // empty: ready
	}{
		{
			name: "ready once its probe passes",
			spec: Spec{Name: "sh", Path: "/bin/sh", Args: []string{"-c", "echo started; exec sleep 60"}},
		},
		{
			name:    "an exit before it is ready is reported with its last lines",
			spec:    Spec{Name: "dies", Path: "/bin/sh", Args: []string{"-c", "echo bad flag >&2; exit 2"}, Ready: TCP(addr)},
			wantErr: []string{"dies exited (exit status 2)", "dies | bad flag"},
		},
		{
			name:    "a probe that never passes times out",
			spec:    Spec{Name: "deaf", Path: "/bin/sh", Args: []string{"-c", "exec sleep 60"}, Ready: TCP(addr)},
			wantErr: []string{"deaf not ready: context deadline exceeded"},
		},
		{
			name:    "a missing binary",
			spec:    Spec{Name: "ghost", Path: "/nonexistent/ghost"},
			wantErr: []string{"start ghost", "no such file"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Run(context.Background(), tt.spec, 2*time.Second)
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					assert.ErrorContains(t, err, w)
				}
				return
			}
			require.NoError(t, err)
			pid := p.PID()
			require.NoError(t, syscall.Kill(pid, 0), "it runs")
			p.Stop()
			assert.Error(t, syscall.Kill(pid, 0), "Stop ends it")
			assert.Contains(t, p.Out.String(), "sh | started\n")
		})
	}
}

// A process run Once is not restarted when it dies: supervision ends.
func TestOnceIsNotRestarted(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	p, err := Run(context.Background(), Spec{
		Name: "once", Path: "/bin/sh", Args: []string{"-c", "exec sleep 60"},
		Ready: HTTP("http://"+l.Addr().String()+"/", http.StatusNoContent),
	}, 5*time.Second)
	require.NoError(t, err)
	pid := p.PID()
	require.NoError(t, p.Signal(syscall.SIGKILL))
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		require.FailNow(t, "supervision did not end when the process died")
	}
	assert.Equal(t, pid, p.PID(), "not restarted")
	err = p.WaitReady(context.Background())
	assert.ErrorContains(t, err, "once exited (signal: killed)")
}

func TestHTTPProbe(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusOK)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	base := "http://" + l.Addr().String()
	tests := []struct {
		name     string
		path     string
		statuses []int
		wantErr  string
	}{
		{name: "any 2xx by default", path: "/empty"},
		{name: "a status asked for", path: "/ok", statuses: []int{http.StatusOK}},
		{name: "another 2xx than asked for", path: "/empty", statuses: []int{http.StatusOK}, wantErr: "status 204"},
		{name: "not serving yet", path: "/down", wantErr: "status 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := HTTP(base+tt.path, tt.statuses...)(context.Background())
			if tt.wantErr == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tt.wantErr)
			}
		})
	}
}

func TestBufferKeepsTheTail(t *testing.T) {
	t.Parallel()
	var b Buffer
	line := strings.Repeat("x", 1023) + "\n"
	for range 3 * 1024 { // 3 MiB
		_, err := b.Write([]byte(line))
		require.NoError(t, err)
	}
	_, err := b.Write([]byte("last\n"))
	require.NoError(t, err)
	assert.LessOrEqual(t, len(b.String()), 1<<20+len(line), "at most about a mebibyte is kept")
	assert.Equal(t, "last", b.Tail(1))
	assert.Equal(t, strings.TrimSuffix(line, "\n")+"\nlast", b.Tail(2))
}
