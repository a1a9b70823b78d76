package daprdtest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/daprdtest"
)

// TestRedisStateCrashes runs transfers between accounts through a daprd on
// the redis profile's state store while the component is killed (SIGKILL)
// and started again under the running sidecar, and then while Redis is
// killed and restarted from its append-only file. A transaction is one
// script, so each is in Redis whole or not at all: the accounts' sum holds,
// and transfers go through again after each crash.
func TestRedisStateCrashes(t *testing.T) {
	if !strings.Contains(os.Getenv(conformanceEnv), daprdtest.DaprshopRedis) {
		t.Skipf("runs with %s=%s (make test-redis: it needs redis-server)", conformanceEnv, daprdtest.DaprshopRedis)
	}
	r := daprdtest.StartDurableRedis(t)
	store := strings.ReplaceAll(daprdtest.StateStoreOf(daprdtest.DaprshopRedis, "store"), "{{redis}}", r.Addr)
	sc := daprdtest.Start(t, "crash", store)
	c := sc.Client

	const accounts, start = 5, 100
	key := func(i int) string { return "account-" + strconv.Itoa(i) }
	for i := range accounts {
		require.NoError(t, c.SaveState(ctx(t), "store", key(i), []byte(strconv.Itoa(start)), nil))
	}
	var done, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				from := rand.IntN(accounts)
				to := (from + 1 + rand.IntN(accounts-1)) % accounts
				if transfer(c, key(from), key(to)) == nil {
					done.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	progress := func(what string) {
		t.Helper()
		from := done.Load()
		require.Eventually(t, func() bool { return done.Load() >= from+20 }, 60*time.Second, 10*time.Millisecond,
			"transfers stalled %s (%d done, %d failed)", what, done.Load(), failed.Load())
	}
	progress("at the start")
	sc.StateComponent.Restart() // Kill, then start: daprd is not told
	progress("after the component was killed")
	r.Restart()
	progress("after Redis was killed")
	close(stop)
	wg.Wait()

	sum := 0
	for i := range accounts {
		it, err := c.GetState(ctx(t), "store", key(i), nil)
		require.NoError(t, err)
		n, err := strconv.Atoi(string(it.Value))
		require.NoError(t, err, "account %d: %q", i, it.Value)
		sum += n
	}
	assert.Equal(t, accounts*start, sum, "%d transfers went through, %d failed", done.Load(), failed.Load())
	t.Logf("%d transfers went through, %d failed (conflicts and the crashes)", done.Load(), failed.Load())
}

// transfer moves 1 from one account to another in one transaction, under
// both ETags.
func transfer(c dapr.Client, from, to string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	items, err := c.GetBulkState(ctx, "store", []string{from, to}, nil, 1)
	if err != nil {
		return err
	}
	byKey := map[string]*dapr.BulkStateItem{}
	for _, it := range items {
		byKey[it.Key] = it
	}
	a, b := byKey[from], byKey[to]
	if a == nil || b == nil || a.Error != "" || b.Error != "" {
		return fmt.Errorf("bulk get of %s and %s: %d items", from, to, len(items))
	}
	na, _ := strconv.Atoi(string(a.Value))
	nb, _ := strconv.Atoi(string(b.Value))
	return c.ExecuteStateTransaction(ctx, "store", nil, []*dapr.StateOperation{
		upsert(a.Key, strconv.Itoa(na-1), a.Etag), upsert(b.Key, strconv.Itoa(nb+1), b.Etag),
	})
}
