package main

import (
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/web"
)

// limiter keeps one token bucket per key (a user, or a client address).
// Buckets idle for longer than idleTTL are dropped, so memory stays bounded
// by the number of recently active clients.
type limiter struct {
	rps   rate.Limit
	burst int
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

const idleTTL = 10 * time.Minute

func newLimiter(rps float64, burst int, now func() time.Time) *limiter {
	return &limiter{rps: rate.Limit(rps), burst: burst, now: now, buckets: map[string]*bucket{}}
}

// allow takes one token from key's bucket; when it is empty, it says how
// long until the next token.
func (l *limiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > idleTTL {
		for k, b := range l.buckets {
			if now.Sub(b.lastSeen) > idleTTL {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.rps, l.burst)}
		l.buckets[key] = b
	}
	b.lastSeen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// limitRequests answers 429 with Retry-After once the caller's bucket is
// empty. The caller is the authenticated user when there is one, else the
// client's address as the connection shows it: X-Forwarded-For is not read,
// since any client can write it (behind a trusted proxy, key on what that
// proxy sets instead).
func limitRequests(logger *slog.Logger, l *limiter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := "ip:" + clientAddr(r)
			if sub, ok := principal(r.Context()); ok {
				key = "user:" + sub
			}
			if ok, wait := l.allow(key); !ok {
				secs := int(math.Ceil(wait.Seconds()))
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				web.Error(w, r, logger, apperr.E(apperr.RateLimited, "too many requests; retry in %d s", secs))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
