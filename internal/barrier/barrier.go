// Package barrier makes the steps of a distributed transaction idempotent
// for the participant that runs them (the "sub-transaction barrier" of
// TCC and saga). Each step of a global transaction (gid, an order id) on a
// branch (a named step such as "reserve" or "charge") is one of three ops:
//
//   - Try: the forward action (reserve stock, charge a wallet);
//   - Confirm: make a Try final (TCC only);
//   - Cancel: undo a Try (a TCC cancel, a saga compensation).
//
// A record per (gid, branch, op) is written with insert-only semantics in
// the same state transaction as the business change, so that:
//
//   - a repeated op is a no-op that returns the first result (Replayed);
//   - a Cancel that arrives before its Try records the Try as blocked and
//     succeeds doing nothing (Empty), and the late Try is then a no-op
//     (Blocked): a timed-out action can never land after its compensation;
//   - a Cancel with nothing to undo succeeds doing nothing (Empty);
//   - a Try whose work fails writes nothing, so a retry runs it again.
//
// The barrier keeps its records in a state.Store, the one the business
// records are in, and reads them in one bulk call with the business records
// its work names.
package barrier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/daprshop/daprshop/internal/state"
)

// ErrNoTry is a Confirm whose Try never succeeded, was blocked by a Cancel
// or was undone by one: there is nothing to confirm.
var ErrNoTry = errors.New("nothing to confirm: the try did not happen or was cancelled")

// Kind is the kind of an op.
type Kind string

// The ops of a branch.
const (
	Try     Kind = "try"
	Confirm Kind = "confirm"
	Cancel  Kind = "cancel"
)

// Work is the business change of an op.
type Work struct {
	// Reads are the keys of the business records Change needs, read in
	// the same bulk call as the barrier's records.
	Reads []string
	// Change returns the op's result and the writes that make it, which
	// commit together with the barrier record or not at all, from read:
	// the records of Reads as read (missing ones absent), with their
	// ETags. What else it needs it reads through the store itself. It
	// may run more than once (after a lost race), so it must not have
	// effects of its own.
	Change func(ctx context.Context, read map[string]state.Item) (result json.RawMessage, ops []state.Op, err error)
}

// Outcome says what an op did.
type Outcome struct {
	// Result is the result of the op's first run (for an Empty cancel or a
	// Blocked try, null).
	Result json.RawMessage
	// Replayed: the op ran before; nothing was done now.
	Replayed bool
	// Blocked: a Try that came after its Cancel; nothing was done, ever.
	Blocked bool
	// Empty: a Cancel whose Try never happened; nothing was undone.
	Empty bool
}

// record is a barrier record.
type record struct {
	Result    json.RawMessage `json:"result,omitempty"`
	Blocked   bool            `json:"blocked,omitempty"` // a try record written by a cancel that came first
	Empty     bool            `json:"empty,omitempty"`   // a cancel with nothing to undo
	CreatedAt time.Time       `json:"created_at"`
}

// Barrier runs ops behind barrier records in a store.
type Barrier struct {
	store   state.Store
	now     func() time.Time
	retries state.Retries
	logger  *slog.Logger
}

// maxAttempts bounds how often an op is run again after losing a race. A
// transaction loses only to one that committed, so under contention every
// attempt lets someone through: 200 ops racing on one record all get their
// answer well within it.
const maxAttempts = 64

// Option changes how a Barrier retries.
type Option func(*Barrier)

// WithBackoff sets the pause before attempt n+1 after n lost races
// (state.Backoff by default).
func WithBackoff(backoff func(attempt int) time.Duration) Option {
	return func(b *Barrier) { b.retries.Backoff = backoff }
}

// WithLogger logs every replayed op (a repeat of one that ran before: a
// retried activity, a redelivered request) at info level, with its gid,
// branch and op, so that duplicate executions can be counted; the barrier
// makes each a no-op. Without it, nothing is logged.
func WithLogger(logger *slog.Logger) Option {
	return func(b *Barrier) { b.logger = logger }
}

// New returns a barrier keeping its records in store.
func New(store state.Store, now func() time.Time, opts ...Option) *Barrier {
	b := &Barrier{store: store, now: now, retries: state.Retries{Attempts: maxAttempts}, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(b)
	}
	return b
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// Key names the barrier record of an op.
func Key(gid, branch string, kind Kind) string {
	return "barrier-" + gid + "-" + branch + "-" + string(kind)
}

// Do runs op kind of (gid, branch) once, with work as its business change.
// Errors from work are returned as they are (nothing is written). A lost
// race (another write to the same records committed first) runs the op
// again after a short pause; lost maxAttempts times in a row, or until ctx
// ends, it is state.ErrConflict.
func (b *Barrier) Do(ctx context.Context, gid, branch string, kind Kind, work Work) (Outcome, error) {
	if !namePattern.MatchString(gid) || !namePattern.MatchString(branch) {
		return Outcome{}, fmt.Errorf("barrier: gid %q or branch %q is not a name", gid, branch)
	}
	switch kind {
	case Try, Confirm, Cancel:
	default:
		return Outcome{}, fmt.Errorf("barrier: unknown op %q", kind)
	}
	var out Outcome
	err := b.retries.Do(ctx, func(ctx context.Context) error {
		var err error
		out, err = b.once(ctx, gid, branch, kind, work)
		return err
	})
	if errors.Is(err, state.ErrConflict) {
		return Outcome{}, fmt.Errorf("barrier %s %s %s: %w", gid, branch, kind, err)
	}
	if err != nil {
		return Outcome{}, err
	}
	if out.Replayed {
		b.logger.InfoContext(ctx, "barrier op replayed", "gid", gid, "branch", branch, "op", string(kind), "blocked", out.Blocked, "empty", out.Empty)
	}
	return out, nil
}

func (b *Barrier) once(ctx context.Context, gid, branch string, kind Kind, work Work) (Outcome, error) {
	tryKey, ownKey, cancelKey := Key(gid, branch, Try), Key(gid, branch, kind), Key(gid, branch, Cancel)
	items, err := b.store.Get(ctx, append([]string{tryKey, ownKey, cancelKey}, work.Reads...)...)
	if err != nil {
		return Outcome{}, err
	}
	if it, ok := items[ownKey]; ok {
		rec, err := decode(it.Value)
		if err != nil {
			return Outcome{}, err
		}
		return Outcome{Result: rec.Result, Replayed: true, Blocked: kind == Try && rec.Blocked, Empty: rec.Empty}, nil
	}
	tried, triedOK := items[tryKey]
	now := b.now().UTC()
	switch kind {
	case Confirm:
		if !triedOK {
			return Outcome{}, ErrNoTry
		}
		if rec, err := decode(tried.Value); err != nil {
			return Outcome{}, err
		} else if rec.Blocked {
			return Outcome{}, ErrNoTry
		}
		if _, undone := items[cancelKey]; undone {
			return Outcome{}, ErrNoTry // cancelled after its try: nothing left to confirm
		}
	case Cancel:
		if !triedOK {
			// The try never happened (or is still on its way): record it as
			// blocked, so that it never will, and undo nothing.
			ops := []state.Op{
				{Key: tryKey, Value: encode(record{Blocked: true, CreatedAt: now}), Insert: true},
				{Key: ownKey, Value: encode(record{Empty: true, CreatedAt: now}), Insert: true},
			}
			if err := b.store.Transact(ctx, ops); err != nil {
				return Outcome{}, err
			}
			return Outcome{Empty: true}, nil
		}
		if rec, err := decode(tried.Value); err != nil {
			return Outcome{}, err
		} else if rec.Blocked {
			// Blocked by an earlier cancel of ours whose own record was not
			// found: cannot be (both are written together), but stay safe.
			return Outcome{Empty: true, Replayed: true}, nil
		}
	}
	result, ops, err := work.Change(ctx, items)
	if err != nil {
		return Outcome{}, err
	}
	ops = append([]state.Op{{Key: ownKey, Value: encode(record{Result: result, CreatedAt: now}), Insert: true}}, ops...)
	if err := b.store.Transact(ctx, ops); err != nil {
		return Outcome{}, err
	}
	return Outcome{Result: result}, nil
}

func encode(r record) []byte {
	b, _ := json.Marshal(r) // a record always marshals
	return b
}

func decode(b []byte) (record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, fmt.Errorf("barrier: decode record: %w", err)
	}
	return r, nil
}
