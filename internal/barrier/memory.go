package barrier

import (
	"context"
	"strconv"
	"sync"
)

var _ Store = (*MemoryStore)(nil)

// MemoryStore is a Store in memory, with the semantics of the Dapr one:
// for unit tests of the services that use a barrier, and checked against
// the Dapr store by the same contract tests.
type MemoryStore struct {
	mu      sync.Mutex
	items   map[string]Item
	version int
	// Err, when set, is returned by every call.
	Err error
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{items: map[string]Item{}} }

// Get reads keys.
func (s *MemoryStore) Get(_ context.Context, keys ...string) (map[string]Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return nil, s.Err
	}
	out := map[string]Item{}
	for _, k := range keys {
		if it, ok := s.items[k]; ok {
			out[k] = Item{Value: append([]byte(nil), it.Value...), ETag: it.ETag}
		}
	}
	return out, nil
}

// Transact applies ops all or nothing.
func (s *MemoryStore) Transact(_ context.Context, ops []Op) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return s.Err
	}
	for _, op := range ops {
		cur, exists := s.items[op.Key]
		if (op.Insert && op.ETag == "" && exists) || (op.ETag != "" && (!exists || cur.ETag != op.ETag)) {
			return ErrConflict
		}
	}
	for _, op := range ops {
		if op.Delete {
			delete(s.items, op.Key)
			continue
		}
		s.version++
		s.items[op.Key] = Item{Value: append([]byte(nil), op.Value...), ETag: strconv.Itoa(s.version)}
	}
	return nil
}
