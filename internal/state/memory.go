package state

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

var _ Store = (*MemoryStore)(nil)

// MemoryStore is a Store in memory with the semantics of the Dapr ones (the
// contract suite runs both): for the services' unit tests.
type MemoryStore struct {
	mu      sync.Mutex
	items   map[string]stored
	version int
	now     func() time.Time
	err     error
	outbox  [][]byte
}

type stored struct {
	Item
	expires time.Time // zero: never
}

// NewMemoryStore returns an empty MemoryStore whose records expire by the
// wall clock.
func NewMemoryStore() *MemoryStore { return NewMemoryStoreAt(time.Now) }

// NewMemoryStoreAt returns an empty MemoryStore whose records expire by
// now.
func NewMemoryStoreAt(now func() time.Time) *MemoryStore {
	return &MemoryStore{items: map[string]stored{}, now: now}
}

// Get reads keys.
func (s *MemoryStore) Get(_ context.Context, keys ...string) (map[string]Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	if err := checkKeys(keys, itself); err != nil {
		return nil, err
	}
	out := map[string]Item{}
	for _, k := range keys {
		if it, ok := s.lookup(k); ok {
			out[k] = Item{Value: append([]byte(nil), it.Value...), ETag: it.ETag}
		}
	}
	return out, nil
}

// Transact applies ops all or nothing.
func (s *MemoryStore) Transact(_ context.Context, ops []Op) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if err := checkKeys(ops, opKey); err != nil {
		return err
	}
	for _, op := range ops {
		if !s.allows(op) {
			return ErrConflict
		}
	}
	for _, op := range ops {
		s.apply(op)
	}
	s.outbox = append(s.outbox, published(ops)...)
	return nil
}

// published is what a Dapr outbox publishes for a committed transaction:
// each upsert's value, or the value of the projection for its key.
func published(ops []Op) [][]byte {
	projected := map[string][]byte{}
	for _, op := range ops {
		if op.Projection {
			projected[op.Key] = op.Value
		}
	}
	var out [][]byte
	for _, op := range ops {
		if op.Delete || op.Projection {
			continue
		}
		v, ok := projected[op.Key]
		if !ok {
			v = op.Value
		}
		out = append(out, append([]byte(nil), v...))
	}
	return out
}

// Published returns what an outbox on this store would have published so
// far, in order: for every committed transaction, each upsert's value or
// its projection (a single write publishes nothing).
func (s *MemoryStore) Published() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.outbox)
}

// Put applies one op.
func (s *MemoryStore) Put(_ context.Context, op Op) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if err := checkKeys([]Op{op}, opKey); err != nil {
		return err
	}
	if !s.allows(op) {
		return ErrConflict
	}
	s.apply(op)
	return nil
}

// Fail makes every call return err from now on (nil: none), as a store
// that is down does.
func (s *MemoryStore) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// Snapshot returns the records stored whose keys start with prefix
// (expired ones left out), even while the store fails: for tests, which
// look at what a use case wrote.
func (s *MemoryStore) Snapshot(prefix string) map[string]Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Item{}
	for k := range s.items {
		if it, ok := s.lookup(k); ok && strings.HasPrefix(k, prefix) {
			out[k] = Item{Value: append([]byte(nil), it.Value...), ETag: it.ETag}
		}
	}
	return out
}

func (s *MemoryStore) lookup(key string) (stored, bool) {
	it, ok := s.items[key]
	if ok && !it.expires.IsZero() && !s.now().Before(it.expires) {
		return stored{}, false
	}
	return it, ok
}

// allows reports whether op's checks pass: an insert of a missing record,
// a write under the ETag of the current one. An ETag on a missing record
// fails; a delete without one of a missing record passes.
func (s *MemoryStore) allows(op Op) bool {
	if op.Projection {
		return true
	}
	cur, exists := s.lookup(op.Key)
	if op.ETag != "" {
		return exists && cur.ETag == op.ETag
	}
	return !op.Insert || !exists
}

func (s *MemoryStore) apply(op Op) {
	switch {
	case op.Projection: // published by an outbox, never stored
	case op.Delete:
		delete(s.items, op.Key)
	default:
		s.version++
		it := stored{Item: Item{Value: append([]byte(nil), op.Value...), ETag: strconv.Itoa(s.version)}}
		if op.TTL > 0 {
			it.expires = s.now().Add(ttlSeconds(op.TTL) * time.Second)
		}
		s.items[op.Key] = it
	}
}

// ttlSeconds is a TTL in the whole seconds a Dapr store keeps it in.
func ttlSeconds(ttl time.Duration) time.Duration {
	return time.Duration(math.Ceil(ttl.Seconds()))
}
