package proc

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
func fileProbe(dir string, p **Process) func(context.Context) error {
	return func(context.Context) error {
		pid := (*p).PID()
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
	var out Buffer
	fatal := make(chan error, 1)
	p := New(Spec{
		Name:  "flaky",
		Path:  "/bin/sh",
		Args:  []string{"-c", "echo up; sleep 0.05; exit 3"},
		Ready: func(context.Context) error { return nil },
	}, NewLines(&out, "launcher", "flaky"), func(err error) { fatal <- err })

	p.Start()
	t.Cleanup(p.Stop)

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
	p := New(Spec{
		Name: "crasher",
		Path: "/bin/sh",
		Args: []string{"-c", "echo boom; exit 3"},
	}, NewLines(&out, "launcher", "crasher"), func(err error) { fatal <- err })

	p.Start()
	t.Cleanup(p.Stop)

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
	var p *Process
	p = New(Spec{
		Name:  "sleeper",
		Path:  "/bin/sh",
		Args:  []string{"-c", `touch "$1/$$"; exec sleep 60`, "sh", dir},
		Ready: fileProbe(dir, &p),
	}, NewLines(&out, "launcher", "sleeper"), func(err error) { fatal <- err })

	assert.Zero(t, p.PID(), "no pid before start")
	assert.ErrorContains(t, p.Signal(syscall.SIGKILL), "sleeper is not running")

	p.Start()
	t.Cleanup(p.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	require.NoError(t, p.WaitReady(ctx))
	first := p.PID()
	require.NotZero(t, first)
	assert.FileExists(t, filepath.Join(dir, strconv.Itoa(first)))
	require.NoError(t, syscall.Kill(first, 0), "the first run is alive")

	require.NoError(t, p.Signal(syscall.SIGKILL))
	require.Eventually(t, func() bool {
		pid := p.PID()
		return pid != 0 && pid != first
	}, 10*time.Second, 20*time.Millisecond, "the process is restarted")
	require.NoError(t, p.WaitReady(ctx))
	second := p.PID()
	assert.NotEqual(t, first, second)
	assert.FileExists(t, filepath.Join(dir, strconv.Itoa(second)))
	assert.Error(t, syscall.Kill(first, 0), "the killed run is gone")
	require.NoError(t, syscall.Kill(second, 0), "the second run is alive")

	began := time.Now()
	p.Stop()
	assert.Less(t, time.Since(began), StopTimeout, "SIGTERM stops it without the SIGKILL fallback")
	assert.Error(t, syscall.Kill(second, 0), "the process is gone after stop")
	assert.True(t, isClosed(p.done), "supervision ended")
	assert.Equal(t, second, p.PID(), "no restart after stop")
	assert.Empty(t, fatal, "a process killed after it was ready is not fatal")
	log := out.String() // every writer is done once stop returns
	assert.Equal(t, 1, strings.Count(log, "launcher | sleeper exited (signal: killed)"), "the kill is logged")
	assert.Equal(t, 1, strings.Count(log, "restarting in"), "no restart is announced after stop")

	p.Stop() // a second stop returns at once
}

func TestProcessWaitReadyWhenItNeverBecomesReady(t *testing.T) {
	t.Parallel()
	p := New(Spec{
		Name:  "unready",
		Path:  "/bin/sh",
		Args:  []string{"-c", "exec sleep 60"},
		Ready: func(context.Context) error { return errors.New("not yet") },
	}, NewLines(io.Discard, "launcher"), func(error) {})
	p.Start()
	t.Cleanup(p.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := p.WaitReady(ctx)

	require.Error(t, err)
	assert.ErrorContains(t, err, "unready not ready")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestProcessStopKillsAProcessThatIgnoresSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skipf("waits StopTimeout (%s)", StopTimeout)
	}
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	var p *Process
	p = New(Spec{
		Name:  "stubborn",
		Path:  "/bin/sh",
		Args:  []string{"-c", `trap '' TERM; touch "$1/$$"; sleep 60`, "sh", dir},
		Ready: fileProbe(dir, &p),
	}, NewLines(&out, "launcher", "stubborn"), func(error) {})
	p.Start()
	t.Cleanup(p.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, p.WaitReady(ctx))
	pid := p.PID()

	began := time.Now()
	p.Stop()
	took := time.Since(began)

	assert.GreaterOrEqual(t, took, StopTimeout)
	assert.Less(t, took, StopTimeout+5*time.Second)
	assert.Error(t, syscall.Kill(pid, 0), "the process is gone after stop")
	assert.Contains(t, out.String(), "launcher | stubborn did not stop within 15s; killing it\n")
}

// Halt kills at once: the process is gone when Halt returns without
// having been sent the SIGTERM that Stop gives it (it would say so), and
// nothing restarts it.
func TestProcessHaltKillsAtOnceAndKeepsItDown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	var p *Process
	p = New(Spec{
		Name:  "stubborn",
		Path:  "/bin/sh",
		Args:  []string{"-c", `trap 'echo got TERM; exit 0' TERM; touch "$1/$$"; while :; do sleep 1; done`, "sh", dir},
		Ready: fileProbe(dir, &p),
	}, NewLines(&out, "launcher", "stubborn"), func(error) {})
	p.Start()
	t.Cleanup(p.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, p.WaitReady(ctx))
	pid := p.PID()

	p.Halt()

	assert.Error(t, syscall.Kill(pid, 0), "the process is gone when Halt returns")
	assert.NotContains(t, out.String(), "got TERM", "Halt sends no SIGTERM")
	assert.NotContains(t, out.String(), "did not stop within")
	assert.NotContains(t, out.String(), "restarting")
	select {
	case <-p.Done():
	default:
		t.Fatal("supervision still runs after Halt")
	}
	// Started again, it stops as usual.
	p.Start()
	require.NoError(t, p.WaitReady(ctx))
	assert.NotEqual(t, pid, p.PID())
	p.Stop()
	assert.Contains(t, out.String(), "got TERM", "a later Stop is a graceful one again")
}

func TestLineWriter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		self  string
		names []string
		write func(*Lines)
		want  string
	}{
		{
			name:  "short name padded to the longest name",
			self:  "launcher",
			names: []string{"users.daprd"},
			write: func(l *Lines) { l.Line("users", "hello") },
			want:  "users       | hello\n",
		},
		{
			name:  "longest name not padded",
			self:  "launcher",
			names: []string{"users.daprd"},
			write: func(l *Lines) { l.Line("users.daprd", "hi") },
			want:  "users.daprd | hi\n",
		},
		{
			name:  "unknown longer name is not cut",
			self:  "a",
			write: func(l *Lines) { l.Line("longer", "x") },
			want:  "longer | x\n",
		},
		{
			name:  "system lines come from the launcher",
			self:  "launcher",
			names: []string{"notifications"},
			write: func(l *Lines) { l.System("%s exited after %d tries", "nats", 3) },
			want:  "launcher      | nats exited after 3 tries\n",
		},
		{
			name:  "lines keep their order",
			self:  "c",
			names: []string{"ab"},
			write: func(l *Lines) { l.Line("c", "one"); l.Line("ab", "two") },
			want:  "c  | one\nab | two\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tt.write(NewLines(&buf, tt.self, tt.names...))
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
			p := New(Spec{Name: "app"}, NewLines(&buf, "app"), func(error) {})
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
	p := New(Spec{
		Name: "echoer",
		Path: "/bin/sh",
		Args: []string{"-c", "echo first line; echo second line >&2"},
	}, NewLines(&buf, "launcher", "echoer"), func(error) {})

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
		p := New(Spec{Name: "sleeper", Path: "/bin/sh", Args: []string{"-c", "sleep 30"}}, NewLines(io.Discard, "launcher", "sleeper"), func(error) {})
		began := time.Now()
		p.Start()
		p.Stop()
		assert.Less(t, time.Since(began), StopTimeout, "stop waited for the process to end by itself")
	}
}

// waitReady returns as soon as supervision ends, even when no run ever
// existed (the binary is missing).
func TestWaitReadyReturnsWhenTheStartFails(t *testing.T) {
	t.Parallel()
	fatal := make(chan error, 1)
	p := New(Spec{Name: "ghost", Path: filepath.Join(t.TempDir(), "missing")}, NewLines(io.Discard, "launcher", "ghost"), func(err error) { fatal <- err })
	p.Start()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := p.WaitReady(ctx)
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, <-fatal, "start ghost")
}
