package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPerSaga(t *testing.T) {
	t.Parallel()
	at := func(pid int, ms int) struct {
		pid int
		cpu time.Duration
	} {
		return struct {
			pid int
			cpu time.Duration
		}{pid, time.Duration(ms) * time.Millisecond}
	}
	before := cpuSample{"orders": at(10, 100), "orders.daprd": at(11, 500), "catalog": at(12, 50), "gone": at(13, 10)}
	after := cpuSample{"orders": at(10, 300), "orders.daprd": at(11, 1300), "catalog": at(99, 900), "new": at(14, 5)}

	got := perSaga(before, after, 100)

	assert.Equal(t, []procCPU{{"orders.daprd", 8 * time.Millisecond}, {"orders", 2 * time.Millisecond}}, got,
		"the hungriest first; a process that restarted (another pid), left or came is not counted")
	assert.Empty(t, perSaga(before, after, 0), "no sagas, no figure")
}

func TestBestRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steps []sagaStep
		want  int
	}{
		{name: "none", want: 0},
		{
			name: "the highest step that kept up, the refined one included",
			steps: []sagaStep{
				{rate: 8, completed: 80, tput: 8, p99: time.Second},
				{rate: 16, completed: 160, tput: 15.9, p99: time.Second},
				{rate: 32, completed: 320, tput: 20, p99: 3 * time.Second, stop: "p99 passed 2 s"},
				{rate: 24, completed: 240, tput: 20, p99: 1900 * time.Millisecond, stop: "the highest rate"},
			},
			want: 24,
		},
		{
			name: "a failure or a growing backlog does not count",
			steps: []sagaStep{
				{rate: 4, completed: 40, tput: 4, p99: time.Second},
				{rate: 8, completed: 79, failed: 1, tput: 8, p99: time.Second},
				{rate: 16, completed: 160, tput: 12, p99: time.Second},
			},
			want: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, bestRate(&sagaSeries{steps: tt.steps}))
		})
	}
}

// TestCPUOfThisProcess reads the real /proc of the test itself, which has
// spent some CPU by now and spends more after a busy loop.
func TestCPUOfThisProcess(t *testing.T) {
	t.Parallel()
	before, err := cpuOfPID(os.Getpid())
	require.NoError(t, err)
	deadline := time.Now().Add(50 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ {
		_ = n * n
	}
	after, err := cpuOfPID(os.Getpid())
	require.NoError(t, err)
	assert.Greater(t, after, before)
	_, err = cpuOfPID(1 << 30)
	assert.Error(t, err, "no such process")
}

// TestTopFunctions profiles a busy loop of this process with the real
// pprof and reads its top back through `go tool pprof`.
func TestTopFunctions(t *testing.T) {
	t.Parallel()
	file := writeTestProfile(t)
	rows, err := topFunctions(context.Background(), file, 5)
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	assert.LessOrEqual(t, len(rows), 5)
	assert.Contains(t, rows[0], "%", "pprof's flat, flat%, sum%, cum and cum% columns")
}

// writeTestProfile writes a CPU profile of a busy loop of this process.
func writeTestProfile(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "cpu.pb.gz")
	f, err := os.Create(file)
	require.NoError(t, err)
	require.NoError(t, pprof.StartCPUProfile(f))
	deadline := time.Now().Add(300 * time.Millisecond)
	sum := 0
	for time.Now().Before(deadline) {
		for i := range 10000 {
			sum += i * i
		}
	}
	pprof.StopCPUProfile()
	require.NoError(t, f.Close())
	t.Logf("busy loop: %d", sum)
	return file
}
