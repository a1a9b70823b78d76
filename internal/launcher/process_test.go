package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fileProbe is ready once the current run of *p has created dir/<its pid>,
// so that a run counts as ready only after its own shell got that far.
func fileProbe(dir string, p **process) func(context.Context) error {
	return func(context.Context) error {
		pid := (*p).pid()
		if pid == 0 {
			return errors.New("not started")
		}
		_, err := os.Stat(filepath.Join(dir, strconv.Itoa(pid)))
		return err
	}
}

// A process that passed its ready probe is restarted however soon it dies,
// and however often: killed from outside right after each start, as the
// fault scenarios do, it is never given up on; only the delay grows.
func TestProcessRestartsAReadyProcessThatKeepsDying(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	fatal := make(chan error, 1)
	p := newProcess(procSpec{
		name:  "flaky",
		path:  "/bin/sh",
		args:  []string{"-c", "echo up; sleep 0.05; exit 3"},
		ready: func(context.Context) error { return nil },
	}, newLineWriter(&out, []string{"launcher", "flaky"}), func(err error) { fatal <- err })

	p.start()
	t.Cleanup(p.stop)

	// maxStartFailures+1 runs take 0.25+0.5+1+2+4 s of delays.
	require.Eventually(t, func() bool {
		return strings.Count(out.String(), "flaky    | up\n") > maxStartFailures
	}, 20*time.Second, 50*time.Millisecond, "restarted more than %d times", maxStartFailures)
	assert.Empty(t, fatal, "never given up on")
	assert.Contains(t, out.String(), "restarting in 4s", "the delay doubles with each quick death")
}

func TestProcessGivesUpOnAProcessThatKeepsDying(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	fatal := make(chan error, maxStartFailures)
	p := newProcess(procSpec{
		name: "crasher",
		path: "/bin/sh",
		args: []string{"-c", "echo boom; exit 3"},
	}, newLineWriter(&out, []string{"launcher", "crasher"}), func(err error) { fatal <- err })

	p.start()
	t.Cleanup(p.stop)

	// Four restarts wait 0.5+1+2+4 s before the fifth failure.
	var err error
	select {
	case err = <-fatal:
	case <-time.After(20 * time.Second):
		require.FailNow(t, "the fatal callback was not called")
	}
	require.Error(t, err)
	assert.ErrorContains(t, err, "crasher keeps dying")
	assert.ErrorContains(t, err, fmt.Sprintf("%d times in a row", maxStartFailures))
	assert.ErrorContains(t, err, "exit status 3")

	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		require.FailNow(t, "supervision did not end after giving up")
	}
	assert.Empty(t, fatal, "the fatal callback is called once")
	log := out.String()
	assert.Equal(t, maxStartFailures, strings.Count(log, "crasher  | boom\n"))
	assert.Equal(t, maxStartFailures-1, strings.Count(log, "launcher | crasher exited (exit status 3)"))
	// The delay starts at restartDelay and doubles with each quick death.
	for _, d := range []string{"250ms", "500ms", "1s", "2s"} {
		assert.Contains(t, log, "restarting in "+d)
	}
}

func TestProcessBecomesReadyIsRestartedAndStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	fatal := make(chan error, 1)
	var p *process
	p = newProcess(procSpec{
		name:  "sleeper",
		path:  "/bin/sh",
		args:  []string{"-c", `touch "$1/$$"; exec sleep 60`, "sh", dir},
		ready: fileProbe(dir, &p),
	}, newLineWriter(&out, []string{"launcher", "sleeper"}), func(err error) { fatal <- err })

	assert.Zero(t, p.pid(), "no pid before start")
	assert.ErrorContains(t, p.signal(syscall.SIGKILL), "sleeper is not running")

	p.start()
	t.Cleanup(p.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	require.NoError(t, p.waitReady(ctx))
	first := p.pid()
	require.NotZero(t, first)
	assert.FileExists(t, filepath.Join(dir, strconv.Itoa(first)))
	require.NoError(t, syscall.Kill(first, 0), "the first run is alive")

	require.NoError(t, p.signal(syscall.SIGKILL))
	require.Eventually(t, func() bool {
		pid := p.pid()
		return pid != 0 && pid != first
	}, 10*time.Second, 20*time.Millisecond, "the process is restarted")
	require.NoError(t, p.waitReady(ctx))
	second := p.pid()
	assert.NotEqual(t, first, second)
	assert.FileExists(t, filepath.Join(dir, strconv.Itoa(second)))
	assert.Error(t, syscall.Kill(first, 0), "the killed run is gone")
	require.NoError(t, syscall.Kill(second, 0), "the second run is alive")

	began := time.Now()
	p.stop()
	assert.Less(t, time.Since(began), stopTimeout, "SIGTERM stops it without the SIGKILL fallback")
	assert.Error(t, syscall.Kill(second, 0), "the process is gone after stop")
	assert.True(t, isClosed(p.done), "supervision ended")
	assert.Equal(t, second, p.pid(), "no restart after stop")
	assert.Empty(t, fatal, "a process killed after it was ready is not fatal")
	log := out.String() // every writer is done once stop returns
	assert.Equal(t, 1, strings.Count(log, "launcher | sleeper exited (signal: killed)"), "the kill is logged")
	assert.Equal(t, 1, strings.Count(log, "restarting in"), "no restart is announced after stop")

	p.stop() // a second stop returns at once
}

func TestProcessWaitReadyWhenItNeverBecomesReady(t *testing.T) {
	t.Parallel()
	p := newProcess(procSpec{
		name:  "unready",
		path:  "/bin/sh",
		args:  []string{"-c", "exec sleep 60"},
		ready: func(context.Context) error { return errors.New("not yet") },
	}, newLineWriter(io.Discard, nil), func(error) {})
	p.start()
	t.Cleanup(p.stop)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := p.waitReady(ctx)

	require.Error(t, err)
	assert.ErrorContains(t, err, "unready not ready")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestProcessStopKillsAProcessThatIgnoresSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skipf("waits stopTimeout (%s)", stopTimeout)
	}
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	var p *process
	p = newProcess(procSpec{
		name:  "stubborn",
		path:  "/bin/sh",
		args:  []string{"-c", `trap '' TERM; touch "$1/$$"; sleep 60`, "sh", dir},
		ready: fileProbe(dir, &p),
	}, newLineWriter(&out, []string{"launcher", "stubborn"}), func(error) {})
	p.start()
	t.Cleanup(p.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, p.waitReady(ctx))
	pid := p.pid()

	began := time.Now()
	p.stop()
	took := time.Since(began)

	assert.GreaterOrEqual(t, took, stopTimeout)
	assert.Less(t, took, stopTimeout+5*time.Second)
	assert.Error(t, syscall.Kill(pid, 0), "the process is gone after stop")
	assert.Contains(t, out.String(), "launcher | stubborn did not stop within 15s; killing it\n")
}

func TestLineWriter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		names []string
		write func(*lineWriter)
		want  string
	}{
		{
			name:  "short name padded to the longest name",
			names: []string{"launcher", "users.daprd"},
			write: func(l *lineWriter) { l.line("users", "hello") },
			want:  "users       | hello\n",
		},
		{
			name:  "longest name not padded",
			names: []string{"launcher", "users.daprd"},
			write: func(l *lineWriter) { l.line("users.daprd", "hi") },
			want:  "users.daprd | hi\n",
		},
		{
			name:  "unknown longer name is not cut",
			names: []string{"a"},
			write: func(l *lineWriter) { l.line("longer", "x") },
			want:  "longer | x\n",
		},
		{
			name:  "system lines come from the launcher",
			names: []string{"launcher", "notifications"},
			write: func(l *lineWriter) { l.system("%s exited after %d tries", "nats", 3) },
			want:  "launcher      | nats exited after 3 tries\n",
		},
		{
			name:  "lines keep their order",
			names: []string{"ab", "c"},
			write: func(l *lineWriter) { l.line("c", "one"); l.line("ab", "two") },
			want:  "c  | one\nab | two\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tt.write(newLineWriter(&buf, tt.names))
			assert.Equal(t, tt.want, buf.String())
		})
	}
}

func TestCopyLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100*1024)
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{name: "every line prefixed", input: "one\ntwo\n", want: "app | one\napp | two\n"},
		{name: "last line without newline", input: "one\ntwo", want: "app | one\napp | two\n"},
		{name: "empty lines kept", input: "one\n\ntwo\n", want: "app | one\napp | \napp | two\n"},
		{name: "line longer than the default scanner buffer", input: long + "\nend\n", want: "app | " + long + "\napp | end\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			p := newProcess(procSpec{name: "app"}, newLineWriter(&buf, []string{"app"}), func(error) {})
			var wg sync.WaitGroup
			wg.Add(1)
			p.copyLines(strings.NewReader(tt.input), &wg)
			wg.Wait()
			assert.Equal(t, tt.want, buf.String())
		})
	}
}

func TestRunOnceCopiesStdoutAndStderr(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := newProcess(procSpec{
		name: "echoer",
		path: "/bin/sh",
		args: []string{"-c", "echo first line; echo second line >&2"},
	}, newLineWriter(&buf, []string{"launcher", "echoer"}), func(error) {})

	exited, ready, err := p.runOnce()
	require.NoError(t, err)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the process did not exit")
	}

	assert.True(t, isClosed(ready), "without a probe a run is ready once started")
	out := buf.String()
	assert.Contains(t, out, "echoer   | first line\n")
	assert.Contains(t, out, "echoer   | second line\n")
	assert.Equal(t, 2, strings.Count(out, "\n"))
}

// stop right after start must not wait for the process to end by itself:
// supervision owns termination, whatever moment the stop arrives at.
func TestProcessStopRightAfterStart(t *testing.T) {
	t.Parallel()
	for range 20 {
		p := newProcess(procSpec{name: "sleeper", path: "/bin/sh", args: []string{"-c", "sleep 30"}}, newLineWriter(io.Discard, []string{"sleeper"}), func(error) {})
		began := time.Now()
		p.start()
		p.stop()
		assert.Less(t, time.Since(began), stopTimeout, "stop waited for the process to end by itself")
	}
}

// waitReady returns as soon as supervision ends, even when no run ever
// existed (the binary is missing).
func TestWaitReadyReturnsWhenTheStartFails(t *testing.T) {
	t.Parallel()
	fatal := make(chan error, 1)
	p := newProcess(procSpec{name: "ghost", path: filepath.Join(t.TempDir(), "missing")}, newLineWriter(io.Discard, []string{"ghost"}), func(err error) { fatal <- err })
	p.start()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := p.waitReady(ctx)
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, <-fatal, "start ghost")
}

// syncBuffer is a bytes.Buffer a test may read while processes write to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
