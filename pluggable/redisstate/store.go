package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// op is one write: a set (with value) or a delete.
type op struct {
	del    bool
	key    string
	value  []byte
	etag   string // "" for none
	insert bool   // first-write without an ETag: the key must not exist
	ttl    string // "" keeps the record's TTL; seconds otherwise
}

// record is what a read finds under a key.
type record struct {
	found bool
	value []byte
	etag  string        // "" when the record has none (a plain string)
	ttl   time.Duration // 0 when the record does not expire
}

// conflictError says which operation's check failed and why; nothing was
// written.
type conflictError struct {
	index  int // from 0
	key    string
	reason string // "etag", "missing" or "exists"
}

func (e *conflictError) Error() string {
	switch e.reason {
	case "missing":
		return fmt.Sprintf("etag mismatch: operation %d: key %s does not exist", e.index+1, e.key)
	case "exists":
		return fmt.Sprintf("etag mismatch: operation %d: key %s already exists (first-write)", e.index+1, e.key)
	default:
		return fmt.Sprintf("etag mismatch: operation %d: key %s has another version", e.index+1, e.key)
	}
}

// store reads and writes records in one Redis database.
type store struct {
	rdb *redis.Client
}

// write applies ops all together or not at all; a *conflictError says
// which check failed.
func (s *store) write(ctx context.Context, ops []op) error {
	if len(ops) == 0 {
		return nil
	}
	keys := make([]string, len(ops))
	args := make([]any, 0, 5*len(ops))
	for i, o := range ops {
		keys[i] = o.key
		kind, insert := "set", "0"
		if o.del {
			kind = "del"
		}
		if o.insert {
			insert = "1"
		}
		args = append(args, kind, o.etag, insert, o.ttl, o.value)
	}
	res, err := writeScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if len(res) != 2 {
		return fmt.Errorf("redis: write script returned %d values", len(res))
	}
	n, ok := res[0].(int64)
	if !ok {
		return fmt.Errorf("redis: write script returned %T", res[0])
	}
	if n == 0 {
		return nil
	}
	if n < 1 || int(n) > len(ops) {
		return fmt.Errorf("redis: write script returned operation %d of %d", n, len(ops))
	}
	reason, _ := res[1].(string)
	return &conflictError{index: int(n) - 1, key: ops[n-1].key, reason: reason}
}

// read returns the records under keys, in order.
func (s *store) read(ctx context.Context, keys []string) ([]record, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	res, err := readScript.Run(ctx, s.rdb, keys).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	if len(res) != 4*len(keys) {
		return nil, fmt.Errorf("redis: read script returned %d values for %d keys", len(res), len(keys))
	}
	out := make([]record, len(keys))
	for i := range keys {
		v := res[4*i : 4*i+4]
		if v[0] != "1" {
			continue
		}
		r := record{found: true, value: []byte(v[1]), etag: v[2]}
		if ms, err := strconv.ParseInt(v[3], 10, 64); err == nil && ms > 0 {
			r.ttl = time.Duration(ms) * time.Millisecond
		}
		out[i] = r
	}
	return out, nil
}

func (s *store) ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// isConflict reports whether err is a failed check.
func isConflict(err error) bool {
	var c *conflictError
	return errors.As(err, &c)
}

// isNetError reports whether err is a failure to reach Redis.
func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, redis.ErrClosed)
}
