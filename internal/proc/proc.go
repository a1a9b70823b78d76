// Package proc runs the child processes of the local system, its tests and
// its benchmarks: each in its own process group (so a stop reaches its
// children, and a parent killed with -9 takes them along), its output
// prefixed line by line with its name, its readiness told by a probe, and,
// unless it runs once, restarted with back-off whenever it exits, as a
// container runtime's restart policy would. The launcher, internal/daprdtest,
// the benchmark and the Kubernetes harness all start processes through it;
// internal/daprproc writes the Dapr runtime's flags for it.
package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Spec says how to run one process.
type Spec struct {
	Name  string
	Path  string
	Args  []string
	Dir   string
	Env   []string // the whole environment (nil: the parent's)
	Ports []Port   // the ports it listens on, checked before anything starts
	// Ready probes whether the process serves; nil means ready once started.
	Ready Probe
	// Once runs the process once: its exit ends supervision, and WaitReady
	// reports it. Tests and benchmarks run their processes so, since a
	// death there is a failure to report, not a fault to ride out.
	Once bool
}

// Port is a port a process listens on and what it is for, for the message
// when it is taken.
type Port struct {
	Port int
	What string
}

// Restart policy, as a container runtime would apply it: restart after any
// exit, after a delay that doubles with each quick death (one before the
// process was ready, or within minHealthyRun of its start). A process that
// fails to start maxStartFailures times in a row (dies before its ready
// probe passed; for one without a probe, within minHealthyRun) is given up
// on. One that was ready is never given up on, however soon it dies: a
// crash after start-up (or a kill from outside, as the fault scenarios
// send) is retried with backoff, as Kubernetes does.
const (
	restartDelay     = 250 * time.Millisecond
	maxRestartDelay  = 10 * time.Second
	maxStartFailures = 5
	minHealthyRun    = 5 * time.Second
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	StopTimeout = 15 * time.Second
)

// Process runs a Spec under supervision.
type Process struct {
	spec  Spec
	out   *Lines
	fatal func(error)

	mu      sync.Mutex
	cmd     *exec.Cmd
	stopCh  chan struct{} // closed when stop is called
	readyCh chan struct{} // closed when the current run became ready
	exited  chan struct{} // closed when the current run's process exited
	done    chan struct{} // closed when supervision ends
	exitErr error         // how the last run ended (Once)
	halt    bool          // the stop under way kills at once (Halt)
}

// New returns a process that writes its lines to out and reports to fatal
// (nil: nothing) that it could not be started, or that it keeps dying.
func New(spec Spec, out *Lines, fatal func(error)) *Process {
	if fatal == nil {
		fatal = func(error) {}
	}
	return &Process{spec: spec, out: out, fatal: fatal}
}

// Name is the spec's name.
func (p *Process) Name() string { return p.spec.Name }

// Start begins supervision: the process is run, and run again whenever it
// exits, until Stop. Starting a supervised process does nothing.
func (p *Process) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil && !isClosed(p.done) {
		return
	}
	p.stopCh = make(chan struct{})
	p.done = make(chan struct{})
	p.cmd, p.readyCh, p.exited, p.exitErr, p.halt = nil, nil, nil, nil, false
	go p.supervise(p.stopCh, p.done)
}

// supervise owns the process for its whole life, termination included, so
// that a stop arriving at any moment (even between two runs) is honoured.
func (p *Process) supervise(stopCh, done chan struct{}) {
	defer close(done)
	quick, failures := 0, 0 // quick deaths, and failures to start, in a row
	for {
		if isClosed(stopCh) {
			return
		}
		started := time.Now()
		exited, readyCh, err := p.runOnce()
		if err != nil {
			err = fmt.Errorf("start %s: %w", p.spec.Name, err)
			p.setExit(err)
			p.fatal(err)
			return
		}
		select {
		case <-exited:
		case <-stopCh:
			p.terminate(exited)
			return
		}
		if isClosed(stopCh) {
			return
		}
		p.mu.Lock()
		state := p.cmd.ProcessState
		p.mu.Unlock()
		ran := time.Since(started)
		if p.spec.Once {
			p.setExit(fmt.Errorf("%s exited (%s) after %s", p.spec.Name, state, ran.Round(time.Millisecond)))
			return
		}
		wasReady := isClosed(readyCh)
		if wasReady && ran >= minHealthyRun {
			quick = 0
		} else {
			quick++
		}
		if !wasReady || (p.spec.Ready == nil && ran < minHealthyRun) {
			failures++
		} else {
			failures = 0
		}
		if failures >= maxStartFailures {
			p.fatal(fmt.Errorf("%s keeps dying at start-up (%d times in a row, last %s); its log lines above say why", p.spec.Name, failures, state))
			return
		}
		delay := min(restartDelay<<min(max(quick-1, 0), 6), maxRestartDelay) // 250ms<<6 is past the cap
		p.out.System("%s exited (%s) after %s; restarting in %s", p.spec.Name, state, ran.Round(time.Millisecond), delay)
		select {
		case <-time.After(delay):
		case <-stopCh:
			return
		}
	}
}

func (p *Process) setExit(err error) {
	p.mu.Lock()
	p.exitErr = err
	p.mu.Unlock()
}

// terminate stops the current run: SIGTERM to its process group, then
// SIGKILL after StopTimeout (at once for Halt). It returns once the
// process has exited.
func (p *Process) terminate(exited chan struct{}) {
	if isClosed(exited) {
		return
	}
	p.mu.Lock()
	halt := p.halt
	p.mu.Unlock()
	if halt {
		_ = p.Signal(syscall.SIGKILL)
		<-exited
		return
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(StopTimeout):
		p.out.System("%s did not stop within %s; killing it", p.spec.Name, StopTimeout)
		_ = p.Signal(syscall.SIGKILL)
		<-exited
	}
}

// runOnce starts the process once and watches for readiness and exit.
func (p *Process) runOnce() (exited, ready chan struct{}, err error) {
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Dir = p.spec.Dir
	cmd.Env = p.spec.Env
	// Own process group, so that stop reaches every child; and killed with
	// its parent, so that nothing is left behind even after kill -9.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	exited = make(chan struct{})
	ready = make(chan struct{})
	p.mu.Lock()
	p.cmd = cmd
	p.exited = exited
	p.readyCh = ready
	p.mu.Unlock()

	var pipes sync.WaitGroup
	pipes.Add(2)
	go p.copyLines(stdout, &pipes)
	go p.copyLines(stderr, &pipes)
	go func() {
		pipes.Wait() // read all output before Wait closes the pipes
		_ = cmd.Wait()
		close(exited)
	}()
	if p.spec.Ready == nil {
		close(ready) // ready once started: before it can exit, not whenever a goroutine runs
	} else {
		go p.probe(exited, ready)
	}
	return exited, ready, nil
}

func (p *Process) copyLines(r io.Reader, wg *sync.WaitGroup) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		p.out.Line(p.spec.Name, sc.Text())
	}
}

// probe polls the readiness check until it passes or the process exits.
func (p *Process) probe(exited, ready chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := p.spec.Ready(ctx)
		cancel()
		if err == nil {
			close(ready)
			return
		}
		select {
		case <-exited:
			return
		case <-t.C:
		}
	}
}

// WaitReady blocks until the current run is ready, supervision ends (the
// process was stopped, exited while running Once, or was given up on), or
// ctx is done. A run that dies before it is ready is followed by the next.
func (p *Process) WaitReady(ctx context.Context) error {
	for {
		p.mu.Lock()
		ready, done := p.readyCh, p.done
		p.mu.Unlock()
		if done == nil {
			return fmt.Errorf("%s was never started", p.spec.Name)
		}
		if isClosed(done) {
			return p.ended()
		}
		var readyC <-chan struct{} // nil until the first run exists: blocks
		if ready != nil {
			readyC = ready
		}
		select {
		case <-readyC:
			return nil
		case <-done:
			return p.ended()
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", p.spec.Name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
			// a new run may have replaced readyCh
		}
	}
}

// ended is WaitReady's error once supervision has ended: how the process
// ended, if it did on its own.
func (p *Process) ended() error {
	p.mu.Lock()
	err := p.exitErr
	p.mu.Unlock()
	if err != nil {
		return err // how it ended: it names the process
	}
	return fmt.Errorf("%s stopped before it was ready", p.spec.Name)
}

// Done is closed when supervision ends.
func (p *Process) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Signal sends sig to the process group of the current run.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return errors.New(p.spec.Name + " is not running")
	}
	return syscall.Kill(-cmd.Process.Pid, sig)
}

// PID returns the process id of the current run, or 0.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stop ends supervision and returns once the process has exited.
func (p *Process) Stop() { p.stop(false) }

// Halt ends supervision with SIGKILL, as a crash that nothing restarts:
// for a test that needs a process down, not a graceful stop (a sidecar's
// graceful stop waits for its app, which stays up).
func (p *Process) Halt() { p.stop(true) }

func (p *Process) stop(halt bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if halt {
		p.halt = true
	}
	stopCh, done := p.stopCh, p.done
	if stopCh != nil && !isClosed(stopCh) {
		close(stopCh)
	}
	p.mu.Unlock()
	if done != nil {
		<-done
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
