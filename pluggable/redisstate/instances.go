package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/metadata"
)

// instanceHeader is the gRPC metadata by which daprd names the component
// (its metadata.name) on every call.
const instanceHeader = "x-component-instance"

// config is what a component's metadata configures.
type config struct {
	Host     string `json:"redisHost"`
	Username string `json:"redisUsername,omitempty"`
	Password string `json:"redisPassword,omitempty"`
	DB       int    `json:"redisDB"`
	TLS      bool   `json:"enableTLS,omitempty"`
}

// parseConfig reads a component's metadata. Settings of state.redis that
// this store does not implement are refused rather than ignored, so that a
// component file copied from state.redis cannot silently mean something
// else; settings it has no use for (daprd's own, such as actorStateStore
// and the outbox's) are ignored.
func parseConfig(props map[string]string) (config, error) {
	get := func(name string) string {
		for k, v := range props {
			if strings.EqualFold(k, name) {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	c := config{Host: get("redisHost"), Username: get("redisUsername"), Password: get("redisPassword")}
	if c.Host == "" {
		return config{}, errors.New("metadata redisHost is required (host:port)")
	}
	if db := get("redisDB"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return config{}, fmt.Errorf("metadata redisDB %q is not a database number", db)
		}
		c.DB = n
	}
	switch v := get("enableTLS"); v {
	case "", "false":
	case "true":
		c.TLS = true
	default:
		return config{}, fmt.Errorf("metadata enableTLS %q is neither true nor false", v)
	}
	if v := get("failover"); v != "" && v != "false" {
		return config{}, fmt.Errorf("metadata failover=%s is not supported by this store (Sentinel)", v)
	}
	if t := get("redisType"); t != "" && t != "node" {
		return config{}, fmt.Errorf("metadata redisType=%s is not supported: one script must see every key of a transaction, so only a single node (redisType=node) will do", t)
	}
	return c, nil
}

// client opens the Redis connection pool of a config. It never retries a
// command by itself: a write retried after Redis ran it but the answer was
// lost would report an insert that succeeded as a conflict. daprd's
// resiliency policies decide about retries, knowing the operation.
func (c config) client() *redis.Client {
	var tlsConfig *tls.Config
	if c.TLS {
		// The system's roots verify the server, as state.redis does.
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewClient(&redis.Options{
		TLSConfig:    tlsConfig,
		Addr:         c.Host,
		Username:     c.Username,
		Password:     c.Password,
		DB:           c.DB,
		MaxRetries:   -1,
		DialTimeout:  5 * time.Second,
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 5 * time.Second,
	})
}

// instances holds the store of each component daprd initialised. daprd
// calls Init once per component, when it starts; when this process is
// restarted under a running daprd (a crash, a new container in the pod) it
// is not called again. So each component's config is kept in dir (mode
// 0600: it may hold the Redis password), and an instance not yet seen by
// this process is opened from there.
type instances struct {
	dir string
	mu  sync.Mutex
	by  map[string]*store
}

func newInstances(dir string) (*instances, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("instance folder: %w", err)
	}
	return &instances{dir: dir, by: map[string]*store{}}, nil
}

// name returns the component name daprd sent with a call.
func instanceName(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(instanceHeader); len(v) == 1 && v[0] != "" {
		return v[0], nil
	}
	return "", fmt.Errorf("the call names no component (gRPC metadata %s)", instanceHeader)
}

func (in *instances) file(name string) string {
	return filepath.Join(in.dir, url.PathEscape(name)+".json")
}

// init opens (or reopens) the store of a component, and keeps its config.
func (in *instances) init(ctx context.Context, name string, c config) error {
	s := &store{rdb: c.client()}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.ping(pingCtx); err != nil {
		_ = s.rdb.Close()
		return fmt.Errorf("component %s: %w", name, err)
	}
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp := in.file(name) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("keep config of %s: %w", name, err)
	}
	if err := os.Rename(tmp, in.file(name)); err != nil {
		return fmt.Errorf("keep config of %s: %w", name, err)
	}
	in.mu.Lock()
	old := in.by[name]
	in.by[name] = s
	in.mu.Unlock()
	if old != nil {
		_ = old.rdb.Close()
	}
	return nil
}

// errNotInitialised is a call for a component this store never saw.
var errNotInitialised = errors.New("component was never initialised")

// get returns the store of the component a call names.
func (in *instances) get(ctx context.Context) (*store, error) {
	name, err := instanceName(ctx)
	if err != nil {
		return nil, err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.by[name]; ok {
		return s, nil
	}
	data, err := os.ReadFile(in.file(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, errNotInitialised)
	}
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", name, err)
	}
	var c config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("config of %s: %w", name, err)
	}
	s := &store{rdb: c.client()}
	in.by[name] = s
	return s, nil
}

// close closes every connection pool.
func (in *instances) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for name, s := range in.by {
		_ = s.rdb.Close()
		delete(in.by, name)
	}
}
