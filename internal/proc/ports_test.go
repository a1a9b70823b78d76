package proc

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// freePorts returns n distinct ports nothing listens on. They are taken
// below the ephemeral range, so that no outgoing connection of another
// process on the machine takes one between this check and the test's.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	require.Greater(t, low, 12000, "no port range below the ephemeral one")
	var ports []int
	start := 10000 + rand.IntN(low-12000)
	for p := start; p < low && len(ports) < n; p++ {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		require.NoError(t, l.Close())
		ports = append(ports, p)
	}
	require.Len(t, ports, n, "free ports from %d", start)
	return ports
}

// TestCheckPorts is not parallel: a process forked by a parallel test keeps
// a copy of every listener open at that moment until it execs, so a port
// CheckPorts has just closed could still be bound when it is checked again.
// Sequential top-level tests finish before any parallel one starts.
func TestCheckPorts(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { held.Close() })
	heldPort := held.Addr().(*net.TCPAddr).Port
	free := freePorts(t, 3)
	free1, free2, free3 := free[0], free[1], free[2]

	tests := []struct {
		name     string
		specs    []Spec
		wantErrs []string // empty: no error
		notWant  []string
	}{
		{
			name: "free ports pass",
			specs: []Spec{
				{Name: "a", Ports: []Port{{Port: free1, What: "a HTTP"}, {Port: free2, What: "a gRPC"}}},
				{Name: "b", Ports: []Port{{Port: free3, What: "b app"}}},
				{Name: "c"},
			},
		},
		{
			name: "a held port is named with what it is for",
			specs: []Spec{
				{Name: "a", Ports: []Port{{Port: free1, What: "a HTTP"}, {Port: heldPort, What: "users daprd gRPC"}}},
			},
			wantErrs: []string{
				"port " + strconv.Itoa(heldPort) + " (users daprd gRPC) is taken by another process",
				"ss -ltnp",
			},
			notWant: []string{strconv.Itoa(free1)},
		},
		{
			name: "a port set twice is reported",
			specs: []Spec{
				{Name: "a", Ports: []Port{{Port: free1, What: "a HTTP"}}},
				{Name: "b", Ports: []Port{{Port: free1, What: "b metrics"}}},
			},
			wantErrs: []string{"port " + strconv.Itoa(free1) + " is set twice: a HTTP and b metrics"},
			notWant:  []string{"taken by another process"},
		},
		{
			name: "every problem is reported at once",
			specs: []Spec{
				{Name: "a", Ports: []Port{{Port: heldPort, What: "a HTTP"}, {Port: free2, What: "a gRPC"}}},
				{Name: "b", Ports: []Port{{Port: free2, What: "b gRPC"}}},
			},
			wantErrs: []string{
				"port " + strconv.Itoa(heldPort) + " (a HTTP) is taken by another process",
				"port " + strconv.Itoa(free2) + " is set twice: a gRPC and b gRPC",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the cases share the free ports.
			err := CheckPorts(tt.specs)
			if len(tt.wantErrs) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tt.wantErrs {
				assert.ErrorContains(t, err, want)
			}
			for _, notWant := range tt.notWant {
				assert.NotContains(t, err.Error(), notWant)
			}
		})
	}
}

func TestAwaitPortsReportsAPortStillHeldAfterTheWait(t *testing.T) {
	t.Parallel()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { held.Close() })
	port := held.Addr().(*net.TCPAddr).Port
	specs := []Spec{{Name: "a", Ports: []Port{{Port: port, What: "a HTTP"}}}}

	err = AwaitPorts(context.Background(), specs, 300*time.Millisecond)
	assert.ErrorContains(t, err, "port "+strconv.Itoa(port)+" (a HTTP) is taken")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = AwaitPorts(ctx, specs, time.Hour)
	assert.Error(t, err, "a cancelled start does not wait the hour")

	require.NoError(t, held.Close())
	assert.NoError(t, AwaitPorts(context.Background(), specs, time.Hour), "a free port passes at once")
}
