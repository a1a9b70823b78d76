package proc

import (
	"context"
	"fmt"
	"time"
)

// Started is a process run once for a test or a benchmark, with its output
// kept.
type Started struct {
	*Process
	Out *Buffer
}

// Run starts spec once (spec.Once is set), its output kept in a Buffer,
// and waits until it is ready or within is over. On failure it stops the
// process and the error carries the last lines it wrote.
func Run(ctx context.Context, spec Spec, within time.Duration) (*Started, error) {
	spec.Once = true
	out := &Buffer{}
	p := New(spec, NewLines(out, spec.Name), nil)
	p.Start()
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	if err := p.WaitReady(ctx); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%w; its last lines:\n%s", err, out.Tail(40))
	}
	return &Started{Process: p, Out: out}, nil
}
