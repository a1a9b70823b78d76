package sidecar

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
)

// secretGetter is the part of the go-sdk client that reads secrets.
type secretGetter interface {
	GetSecret(ctx context.Context, storeName, key string, meta map[string]string) (map[string]string, error)
}

// Secret reads one secret from a secret store through the sidecar (the
// go-sdk, over gRPC) and keeps it for a while: it is read again once older
// than maxAge, so a rotated secret is taken up without a restart. A failed
// re-read keeps serving the last value; only a first read that fails is an
// error, so an app may start before its sidecar.
type Secret struct {
	client secretGetter
	store  string
	name   string
	maxAge time.Duration
	now    func() time.Time

	mu     sync.Mutex
	value  []byte
	readAt time.Time
}

// minRefresh is the least time between two reads that Refresh forces: a
// flood of tokens naming unknown keys reads the store once a second at most.
const minRefresh = time.Second

// NewSecret returns a reader of secret name in store, read again after
// maxAge.
func NewSecret(client secretGetter, store, name string, maxAge time.Duration, now func() time.Time) *Secret {
	return &Secret{client: client, store: store, name: name, maxAge: maxAge, now: now}
}

// Get returns the secret's value, read again when older than maxAge.
func (s *Secret) Get(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.value != nil && s.now().Sub(s.readAt) < s.maxAge {
		return s.value, nil
	}
	return s.read(ctx)
}

// Refresh reads the secret again now (say, for a token signed by a key
// that is not in the value yet), unless it was read less than a second ago.
func (s *Secret) Refresh(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.value != nil && s.now().Sub(s.readAt) < minRefresh {
		return s.value, nil
	}
	return s.read(ctx)
}

// read reads the secret, with s.mu held. A secret store holding a map
// returns the entry under the secret's own name, as the local file store
// does.
func (s *Secret) read(ctx context.Context) ([]byte, error) {
	m, err := s.client.GetSecret(ctx, s.store, s.name, nil)
	if err == nil {
		v, ok := m[s.name]
		if !ok || v == "" {
			err = fmt.Errorf("secret %s in store %s has no value under its own name", s.name, s.store)
		} else {
			s.value, s.readAt = []byte(v), s.now()
			return s.value, nil
		}
	}
	if s.value != nil {
		// Keep serving what we had; the next call tries again.
		s.readAt = s.now()
		return s.value, nil
	}
	return nil, apperr.Wrap(apperr.Unavailable, err, "secret %s unavailable", s.name)
}
