package tests

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// First figures of the checkout saga on the local profile, logged for the
// issue's resolution (the benchmark issue makes them rigorous): latency of
// one checkout on an idle system, from the order's creation to its
// completion as the service records them, and how many sagas per second
// complete when 100 start at once. Nothing here asserts a duration.
func TestSagaFigures(t *testing.T) {
	skipShort(t)
	sc := newScenario(t, "Steady")
	u := sc.users[0]
	const sequential = 40
	var took []time.Duration
	for range sequential {
		id := sc.place(t, u, orderBody("paper-filters-100", 1))
		awaitFinal(t, u, id, time.Minute)
		took = append(took, sagaDuration(t, u, id))
	}
	slices.Sort(took)
	t.Logf("unloaded checkout, %d in a row: median %s, p99 %s, max %s", sequential,
		took[len(took)/2].Round(time.Millisecond), took[len(took)*99/100].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	sc.check(t)

	burst := newScenario(t, "Burst0", "Burst1", "Burst2", "Burst3", "Burst4", "Burst5", "Burst6", "Burst7", "Burst8", "Burst9")
	var wg sync.WaitGroup
	var mu sync.Mutex
	began := time.Now()
	for _, bu := range burst.users {
		for range 10 {
			wg.Go(func() {
				key := uuid.NewString()
				var b []byte
				assert.EventuallyWithT(t, func(c *assert.CollectT) {
					var status int
					status, b = placeOrder(t, bu, key, orderBody("filter-coffee-500g", 1))
					assert.Equal(c, http.StatusAccepted, status, "%s", b)
				}, time.Minute, 200*time.Millisecond)
				var o order
				if assert.NoError(t, json.Unmarshal(b, &o)) {
					mu.Lock()
					burst.orders[o.ID] = bu
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	completed := 0
	for id, bu := range burst.orders {
		if awaitFinal(t, bu, id, 3*time.Minute).Status == "completed" {
			completed++
		}
	}
	elapsed := time.Since(began)
	t.Logf("100 checkouts at once: %d completed in %s, %.1f sagas/s", completed, elapsed.Round(100*time.Millisecond), float64(completed)/elapsed.Seconds())
	assert.Equal(t, 100, completed, "plenty of stock and money: all complete")
	burst.check(t)
}

// sagaDuration is the time from an order's creation to its last update,
// as the orders service recorded them.
func sagaDuration(t *testing.T, u user, id string) time.Duration {
	t.Helper()
	status, b := getAs(t, u, "/api/v1/orders/"+id)
	require.Equal(t, http.StatusOK, status)
	var o struct {
		CreatedAt time.Time `json:"created_at"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	require.NoError(t, json.Unmarshal(b, &o))
	return o.UpdatedAt.Sub(o.CreatedAt)
}
