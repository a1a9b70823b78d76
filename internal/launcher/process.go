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
// exit with a growing delay; a process that keeps dying before it becomes
// ready, maxStartFailures times in a row, is given up on.
const (
	restartDelay     = 250 * time.Millisecond
	maxRestartDelay  = 10 * time.Second
	maxStartFailures = 5
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

// start begins supervision. The process is (re)started until stop is called.
func (p *process) start() {
	p.mu.Lock()
	p.stopCh = make(chan struct{})
	p.done = make(chan struct{})
	p.cmd, p.readyCh, p.exited = nil, nil, nil
	p.mu.Unlock()
	go p.supervise()
}

func (p *process) supervise() {
	defer close(p.done)
	failures := 0
	for {
		started := time.Now()
		exited, readyCh, err := p.runOnce()
		if err != nil {
			p.fatal(fmt.Errorf("start %s: %w", p.spec.name, err))
			return
		}
		<-exited
		p.mu.Lock()
		stopCh, state := p.stopCh, p.cmd.ProcessState
		p.mu.Unlock()
		if isClosed(stopCh) {
			return
		}
		wasReady := isClosed(readyCh)
		if wasReady && time.Since(started) > 5*time.Second {
			failures = 0
		} else {
			failures++
		}
		if failures >= maxStartFailures {
			p.fatal(fmt.Errorf("%s keeps dying at start-up (%d times in a row, last %s); its log lines above say why", p.spec.name, failures, state))
			return
		}
		delay := min(restartDelay<<failures, maxRestartDelay)
		p.out.system("%s exited (%s) after %s; restarting in %s", p.spec.name, state, time.Since(started).Round(time.Millisecond), delay)
		select {
		case <-time.After(delay):
		case <-stopCh:
			return
		}
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
	go p.probe(exited, ready)
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
	if p.spec.ready == nil {
		close(ready)
		return
	}
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

// waitReady blocks until the current run is ready, supervision ends, or ctx
// is done.
func (p *process) waitReady(ctx context.Context) error {
	for {
		p.mu.Lock()
		ready, exited, done := p.readyCh, p.exited, p.done
		p.mu.Unlock()
		if ready == nil {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: not started: %w", p.spec.name, ctx.Err())
			case <-time.After(50 * time.Millisecond):
				continue
			}
		}
		select {
		case <-ready:
			return nil
		case <-exited:
			// It died before it was ready; supervision restarts it (or
			// gives up, which closes done). Wait for the next run.
			select {
			case <-done:
				return fmt.Errorf("%s stopped before it was ready", p.spec.name)
			case <-ctx.Done():
				return fmt.Errorf("%s not ready: %w", p.spec.name, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		case <-done:
			return fmt.Errorf("%s stopped before it was ready", p.spec.name)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", p.spec.name, ctx.Err())
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

// stop ends supervision: SIGTERM to the process group, then SIGKILL after
// stopTimeout. It returns once the process has exited.
func (p *process) stop() {
	p.mu.Lock()
	if p.done == nil || isClosed(p.stopCh) {
		done := p.done
		p.mu.Unlock()
		if done != nil {
			<-done
		}
		return
	}
	close(p.stopCh)
	exited, done := p.exited, p.done
	p.mu.Unlock()
	if exited != nil && !isClosed(exited) {
		_ = p.signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			p.out.system("%s did not stop within %s; killing it", p.spec.name, stopTimeout)
			_ = p.signal(syscall.SIGKILL)
			<-exited
		}
	}
	<-done
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
