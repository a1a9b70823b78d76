// Package state is the one way the services keep state: records read in
// bulk with their ETags, written insert-only, under an ETag or
// unconditionally, alone or in a transaction that applies all or nothing,
// and a write that lost a race tried again on fresh reads (Retries).
//
// A Store is either a Dapr state store behind the app's sidecar (DaprStore)
// or memory (MemoryStore) for unit tests; one contract suite runs both, on
// every kind of store the profiles use, so that the memory one cannot drift
// from the real ones.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Store is what the services need of a state store.
type Store interface {
	// Get reads keys in one round trip; missing ones are absent from the
	// map.
	Get(ctx context.Context, keys ...string) (map[string]Item, error)
	// Transact applies ops all or nothing. A failed Insert or ETag check
	// (or a rollback to break a lock conflict) is ErrConflict.
	Transact(ctx context.Context, ops []Op) error
	// Put applies one op outside any transaction: for a store with a
	// transactional outbox, a write that publishes nothing. A failed
	// Insert or ETag check is ErrConflict.
	Put(ctx context.Context, op Op) error
}

// Item is a stored value and its ETag.
type Item struct {
	Value []byte
	ETag  string
}

// Op is one write. With neither Insert nor ETag it is unconditional.
type Op struct {
	Key   string
	Value []byte // JSON; nil with Delete
	// ETag makes the write fail unless the record is still at that
	// version.
	ETag string
	// Insert makes the write fail if the record exists.
	Insert bool
	// Delete removes the record.
	Delete bool
	// TTL, when positive, makes the record expire (in whole seconds,
	// rounded up).
	TTL time.Duration
	// Projection makes the op, in a transaction of a store with an
	// outbox, the event published for the write of the same key instead
	// of that write's value; it is not stored. It must come after that
	// write.
	Projection bool
}

// ErrConflict reports a write that lost a race: an inserted key that
// exists, or an ETag that changed. Nothing of it was applied.
var ErrConflict = errors.New("state changed meanwhile")

// ErrBadKey reports a key that holds "||": daprd keeps a record under
// <app id>||<key> and refuses such a key (InvalidArgument) in every call,
// so both stores refuse it before anything is read or written.
var ErrBadKey = errors.New(`a state key may not hold "||"`)

// checkKeys returns ErrBadKey, naming the key, for the first bad one.
func checkKeys[T any](items []T, key func(T) string) error {
	for _, it := range items {
		if k := key(it); strings.Contains(k, "||") {
			return fmt.Errorf("%w: %q", ErrBadKey, k)
		}
	}
	return nil
}

func itself(k string) string { return k }
func opKey(op Op) string     { return op.Key }

// Record is a typed record as read: its value, and the ETag to write it
// back under (Found false: it was not there, and writing it inserts it).
type Record[T any] struct {
	Key   string
	Value T
	ETag  string
	Found bool
}

// Lookup decodes the record under key from items (a Get's answer); a
// missing one is T's zero value, not Found.
func Lookup[T any](items map[string]Item, key string) (Record[T], error) {
	r := Record[T]{Key: key}
	it, ok := items[key]
	if !ok {
		return r, nil
	}
	if err := json.Unmarshal(it.Value, &r.Value); err != nil {
		return r, fmt.Errorf("decode %s: %w", key, err)
	}
	r.ETag, r.Found = it.ETag, true
	return r, nil
}

// Read reads and decodes one record.
func Read[T any](ctx context.Context, s Store, key string) (Record[T], error) {
	items, err := s.Get(ctx, key)
	if err != nil {
		return Record[T]{Key: key}, err
	}
	return Lookup[T](items, key)
}

// Write returns the op that stores the record's value: under the ETag it
// was read with, or insert-only when it was not there, so that it loses to
// any write made since it was read.
func (r Record[T]) Write() (Op, error) {
	b, err := json.Marshal(r.Value)
	if err != nil {
		return Op{}, fmt.Errorf("encode %s: %w", r.Key, err)
	}
	return Op{Key: r.Key, Value: b, ETag: r.ETag, Insert: !r.Found}, nil
}

// Delete returns the op that deletes the record, unless it changed since
// it was read.
func (r Record[T]) Delete() Op { return Op{Key: r.Key, ETag: r.ETag, Delete: true} }

// Insert returns the op that writes v under key only if key is not there.
func Insert(key string, v any) (Op, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Op{}, fmt.Errorf("encode %s: %w", key, err)
	}
	return Op{Key: key, Value: b, Insert: true}, nil
}

// Ops collects the ops of several writes, or returns the first error.
func Ops(writes ...func() (Op, error)) ([]Op, error) {
	ops := make([]Op, 0, len(writes))
	for _, w := range writes {
		op, err := w()
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}
