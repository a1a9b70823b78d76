package sidecar

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/apperr"
)

// fakeSecrets is a secret store whose value and failure the test sets.
type fakeSecrets struct {
	mu    sync.Mutex
	value string
	err   error
	reads int
}

func (f *fakeSecrets) GetSecret(_ context.Context, _, key string, _ map[string]string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	return map[string]string{key: f.value}, nil
}

func (f *fakeSecrets) set(value string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.value, f.err = value, err
}

func TestSecretIsReadAgainWhenOld(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &fakeSecrets{value: "v1"}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewSecret(store, "secretstore", "k", time.Minute, func() time.Time { return clock })

	got, err := s.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, "v1", string(got))

	store.set("v2", nil)
	clock = clock.Add(30 * time.Second)
	got, _ = s.Get(ctx)
	assert.Equal(t, "v1", string(got), "kept while younger than maxAge")
	assert.Equal(t, 1, store.reads)

	got, _ = s.Refresh(ctx)
	assert.Equal(t, "v2", string(got), "a refresh reads now")
	got, _ = s.Refresh(ctx)
	assert.Equal(t, 2, store.reads, "but not twice within a second")
	assert.Equal(t, "v2", string(got))

	store.set("v3", nil)
	clock = clock.Add(time.Minute)
	got, _ = s.Get(ctx)
	assert.Equal(t, "v3", string(got), "read again once older than maxAge: a rotation without a restart")

	store.set("", errors.New("store down"))
	clock = clock.Add(time.Minute)
	got, err = s.Get(ctx)
	require.NoError(t, err, "a failed re-read keeps the last value")
	assert.Equal(t, "v3", string(got))
}

func TestSecretFirstReadFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		store *fakeSecrets
	}{
		{"the store fails", &fakeSecrets{err: errors.New("connection refused")}},
		{"no value under its name", &fakeSecrets{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewSecret(tt.store, "secretstore", "k", time.Minute, time.Now)
			_, err := s.Get(context.Background())
			assert.True(t, apperr.Is(err, apperr.Unavailable), "got %v", err)
			tt.store.set("v", nil)
			got, err := s.Get(context.Background())
			require.NoError(t, err, "tried again on the next call")
			assert.Equal(t, "v", string(got))
		})
	}
}
