package launcher

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

// procSpec says how to run one process of the system.
type procSpec struct {
	name  string
	path  string
	args  []string
	dir   string
	env   []string
	ports []namedPort
	// ready probes whether the process serves; nil means ready once started.
	ready func(context.Context) error
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
	stopTimeout      = 15 * time.Second
)

// process runs a procSpec under supervision.
type process struct {
	spec  procSpec
	out   *lineWriter
	fatal func(error)

	mu      sync.Mutex
	cmd     *exec.Cmd
	stopCh  chan struct{} // closed when stop is called
	readyCh chan struct{} // closed when the current run became ready
	exited  chan struct{} // closed when the current run's process exited
	done    chan struct{} // closed when supervision ends
}

func newProcess(spec procSpec, out *lineWriter, fatal func(error)) *process {
	return &process{spec: spec, out: out, fatal: fatal}
}

// start begins supervision: the process is run, and run again whenever it
// exits, until stop. Starting a supervised process does nothing.
func (p *process) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil && !isClosed(p.done) {
		return
	}
	p.stopCh = make(chan struct{})
	p.done = make(chan struct{})
	p.cmd, p.readyCh, p.exited = nil, nil, nil
	go p.supervise(p.stopCh, p.done)
}

// supervise owns the process for its whole life, termination included, so
// that a stop arriving at any moment (even between two runs) is honoured.
func (p *process) supervise(stopCh, done chan struct{}) {
	defer close(done)
	quick, failures := 0, 0 // quick deaths, and failures to start, in a row
	for {
		if isClosed(stopCh) {
			return
		}
		started := time.Now()
		exited, readyCh, err := p.runOnce()
		if err != nil {
			p.fatal(fmt.Errorf("start %s: %w", p.spec.name, err))
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
		wasReady := isClosed(readyCh)
		if wasReady && ran >= minHealthyRun {
			quick = 0
		} else {
			quick++
		}
		if !wasReady || (p.spec.ready == nil && ran < minHealthyRun) {
			failures++
		} else {
			failures = 0
		}
		if failures >= maxStartFailures {
			p.fatal(fmt.Errorf("%s keeps dying at start-up (%d times in a row, last %s); its log lines above say why", p.spec.name, failures, state))
			return
		}
		delay := min(restartDelay<<min(max(quick-1, 0), 6), maxRestartDelay) // 250ms<<6 is past the cap
		p.out.system("%s exited (%s) after %s; restarting in %s", p.spec.name, state, ran.Round(time.Millisecond), delay)
		select {
		case <-time.After(delay):
		case <-stopCh:
			return
		}
	}
}

// terminate stops the current run: SIGTERM to its process group, then
// SIGKILL after stopTimeout. It returns once the process has exited.
func (p *process) terminate(exited chan struct{}) {
	if isClosed(exited) {
		return
	}
	_ = p.signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		p.out.system("%s did not stop within %s; killing it", p.spec.name, stopTimeout)
		_ = p.signal(syscall.SIGKILL)
		<-exited
	}
}

// runOnce starts the process once and watches for readiness and exit.
func (p *process) runOnce() (exited, ready chan struct{}, err error) {
	cmd := exec.Command(p.spec.path, p.spec.args...)
	cmd.Dir = p.spec.dir
	cmd.Env = p.spec.env
	// Own process group, so that stop reaches every child; and killed with
	// the launcher, so that nothing is left behind even after kill -9.
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
	if p.spec.ready == nil {
		close(ready) // ready once started: before it can exit, not whenever a goroutine runs
	} else {
		go p.probe(exited, ready)
	}
	return exited, ready, nil
}

func (p *process) copyLines(r io.Reader, wg *sync.WaitGroup) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		p.out.line(p.spec.name, sc.Text())
	}
}

// probe polls the readiness check until it passes or the process exits.
func (p *process) probe(exited, ready chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := p.spec.ready(ctx)
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

// waitReady blocks until the current run is ready, supervision ends (the
// process was stopped or given up on), or ctx is done. A run that dies
// before it is ready is followed by the next one.
func (p *process) waitReady(ctx context.Context) error {
	for {
		p.mu.Lock()
		ready, done := p.readyCh, p.done
		p.mu.Unlock()
		if done == nil {
			return fmt.Errorf("%s was never started", p.spec.name)
		}
		var readyC <-chan struct{} // nil until the first run exists: blocks
		if ready != nil {
			readyC = ready
		}
		select {
		case <-readyC:
			return nil
		case <-done:
			return fmt.Errorf("%s stopped before it was ready", p.spec.name)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", p.spec.name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
			// a new run may have replaced readyCh
		}
	}
}

// signal sends sig to the process group of the current run.
func (p *process) signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return errors.New(p.spec.name + " is not running")
	}
	return syscall.Kill(-cmd.Process.Pid, sig)
}

// pid returns the process id of the current run, or 0.
func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// stop ends supervision and returns once the process has exited.
func (p *process) stop() {
	p.mu.Lock()
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
