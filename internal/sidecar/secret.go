package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/daprshop/daprshop/internal/apperr"
)

// Secret reads one secret from a secret store through the sidecar's HTTP
// API, once: the value is kept after the first success, and a failure is
// retried on the next call (so an app may start before its sidecar).
type Secret struct {
	cfg    Config
	client *http.Client
	store  string
	name   string

	mu    sync.Mutex
	value []byte
}

// NewSecret returns a loader of secret name from the secret store store.
func NewSecret(c Config, client *http.Client, store, name string) *Secret {
	return &Secret{cfg: c, client: client, store: store, name: name}
}

// Get returns the secret's value. A secret store holding a map returns the
// entry under the secret's own name, as the local file store does.
func (s *Secret) Get(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.value != nil {
		return s.value, nil
	}
	u := s.cfg.HTTPBase() + "/v1.0/secrets/" + url.PathEscape(s.store) + "/" + url.PathEscape(s.name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if s.cfg.APIToken != "" {
		req.Header.Set(TokenHeader, s.cfg.APIToken)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, err, "secret store unavailable")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, err, "secret store unavailable")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, apperr.Wrap(apperr.Unavailable, fmt.Errorf("status %d: %s", resp.StatusCode, body), "secret %s unavailable", s.name)
	}
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("decode secret %s: %w", s.name, err)
	}
	v, ok := m[s.name]
	if !ok || v == "" {
		return nil, fmt.Errorf("secret %s in store %s has no value under its own name", s.name, s.store)
	}
	s.value = []byte(v)
	return s.value, nil
}
