package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShopRunsOnTheNode (L4): the guide's steps on a real node. Redis from
// infra/redis on a volume, the secrets of step 3, then the redis overlay:
// every app's pods run with their injected daprd (and the state store's
// container) and turn Ready; a customer registers, logs in and checks out
// through the gateway's Service, and the order completes. Then a burst of
// checkouts while an orders pod is deleted: every order ends completed or
// cancelled, and the stock adds up.
func TestShopRunsOnTheNode(t *testing.T) {
	c, ctx := startWithDapr(t, Options{Kubelet: true}, 15*time.Minute)
	PrepareNamespace(t, ctx, c)
	secrets, err := c.CreateSecrets(ctx)
	require.NoError(t, err, "step 3's secrets")
	require.NoError(t, c.RedisVolume(ctx))
	c.MustKubectl(t, ctx, "", "apply", "--server-side", "-k", "deploy/k8s/infra/redis")
	c.MustKubectl(t, ctx, "", "-n", "daprshop", "rollout", "status", "statefulset/redis", "--timeout=3m")
	c.MustKubectl(t, ctx, "", "apply", "--server-side", "-k", "deploy/k8s/overlays/redis")
	// The node is this machine: two cores, which the pods' CPU requests
	// fill with two replicas of each of the seven apps (2.01 of 2): a
	// second recommendations replica does not fit, and the first leaves no
	// room for the replacement pod the orders rollout below needs, so it
	// runs alone (its autoscaler removed, as an operator pins a count)
	// and makes way before that rollout. TestScheduledOnNodes rolls out
	// every app at its full count on simulated nodes.
	c.MustKubectl(t, ctx, "", "-n", "daprshop", "delete", "hpa", "recommendations")
	c.MustKubectl(t, ctx, "", "-n", "daprshop", "scale", "deployment/recommendations", "--replicas=1")
	for _, app := range Apps {
		c.MustKubectl(t, ctx, "", "-n", "daprshop", "rollout", "status", "deployment/"+app, "--timeout=8m")
	}
	pods := readyPods(t, ctx, c)
	for _, app := range Apps {
		require.NotEmpty(t, pods[app], "%s has a Ready pod", app)
	}

	shop := &shopClient{base: "http://" + c.MustKubectl(t, ctx, "", "-n", "daprshop", "get", "service", "gateway", "-o", "jsonpath={.spec.clusterIP}")}
	catalog := appClient{pods: pods["catalog"], port: 8082, token: secrets.AppTokens["catalog"]}
	payments := appClient{pods: pods["payments"], port: 8084, token: secrets.AppTokens["payments"]}
	before, merchantBefore := catalog.stock(t, ctx), payments.merchant(t, ctx)

	sold := int64(0)             // units the completed orders bought
	var customers []customer     // every customer, with what they spent
	spent := map[string]*int64{} // customer id → cents of their completed orders
	t.Run("a checkout through the gateway completes", func(t *testing.T) {
		u := shop.newCustomer(t, ctx, "ada")
		customers, spent[u.id] = append(customers, u), new(int64)
		a, b := shop.twoInStock(t, ctx)
		o := shop.checkout(t, ctx, u, fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":2},{"product_id":%q,"quantity":1}]}`, a, b))
		final := shop.awaitFinal(t, ctx, u, o, 2*time.Minute)
		require.Equal(t, "completed", final.Status, "the saga ran over every app's pods: %+v", final)
		sold += 3
		*spent[u.id] += final.TotalCents
		// The TypeScript app's pod counted the order from order.completed,
		// in its store on Redis, and the gateway serves it.
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assert.Equal(ct, map[string]int{b: 1}, shop.recommendations(ctx, ct, a))
		}, time.Minute, 250*time.Millisecond, "recommendations for %s", a)
		aof, err := filepath.Glob(filepath.Join(c.Dir, "volumes", "redis", "appendonlydir", "*.aof"))
		require.NoError(t, err)
		assert.NotEmpty(t, aof, "Redis keeps the shop's state in its append-only file on the claimed volume")
	})

	t.Run("deleting an orders pod mid-burst loses no saga", func(t *testing.T) {
		// Room for the orders pod that replaces the deleted one (above).
		c.MustKubectl(t, ctx, "", "-n", "daprshop", "scale", "deployment/recommendations", "--replicas=0")
		users := []customer{shop.newCustomer(t, ctx, "grace"), shop.newCustomer(t, ctx, "alan")}
		for _, u := range users {
			customers, spent[u.id] = append(customers, u), new(int64)
		}
		a, b := shop.twoInStock(t, ctx)
		const burst = 24
		victim := pods["orders"][0].name
		var (
			mu     sync.Mutex
			placed []placedOrder
			wg     sync.WaitGroup
		)
		for i := range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := users[i%len(users)]
				p := a
				if i%3 == 0 {
					p = b
				}
				id, err := shop.place(ctx, u, fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":1}]}`, p), fmt.Sprintf("burst-%d", i))
				if assert.NoError(t, err) {
					mu.Lock()
					placed = append(placed, placedOrder{u, id})
					mu.Unlock()
				}
			}()
			if i == burst/3 {
				c.MustKubectl(t, ctx, "", "-n", "daprshop", "delete", "pod", victim, "--wait=false")
			}
		}
		wg.Wait()
		require.Len(t, placed, burst, "every checkout was accepted (the client retries a 503 as the guide's clients do)")
		statuses := map[string]int{}
		for _, p := range placed {
			o := shop.awaitFinal(t, ctx, p.u, p.id, 4*time.Minute)
			statuses[o.Status]++
			if o.Status == "completed" {
				*spent[p.u.id] += o.TotalCents
			}
		}
		t.Logf("the burst's orders: %v", statuses)
		assert.Equal(t, burst, statuses["completed"]+statuses["cancelled"], "every saga finished: %v", statuses)
		sold += int64(statuses["completed"])

		// The deleted pod is gone and its replacement serves.
		c.MustKubectl(t, ctx, "", "-n", "daprshop", "rollout", "status", "deployment/orders", "--timeout=4m")
		now := readyPods(t, ctx, c)
		for _, p := range now["orders"] {
			assert.NotEqual(t, victim, p.name, "the deleted orders pod is gone")
		}

		// The stock adds up: nothing reserved once every saga is over, each
		// product's units all accounted for, and the units sold are those
		// the completed orders bought.
		catalog.pods = now["catalog"]
		after := catalog.stock(t, ctx)
		var soldNow int64
		for id, s := range after {
			assert.Zero(t, s.Reserved, "product %s: no units left reserved", id)
			assert.Equal(t, before[id].total(), s.total(), "product %s: available+reserved+sold unchanged", id)
			soldNow += s.Sold - before[id].Sold
		}
		assert.Equal(t, sold, soldNow, "units sold = units of the completed orders")

		// The money adds up: each wallet paid for its completed orders
		// (a cancelled one was refunded, or never charged), and the
		// merchant holds what they paid.
		var total int64
		for _, u := range customers {
			assert.Equal(t, u.opening-*spent[u.id], shop.wallet(t, ctx, u), "the wallet of %s", u.id)
			total += *spent[u.id]
		}
		payments.pods = now["payments"]
		assert.Equal(t, merchantBefore+total, payments.merchant(t, ctx), "the merchant's balance")
	})
}

type placedOrder struct {
	u  customer
	id string
}

// readyPods lists the Ready pods of each app in daprshop, with the
// containers they run.
func readyPods(t *testing.T, ctx context.Context, c *Cluster) map[string][]podRef {
	t.Helper()
	var list struct {
		Items []struct {
			Metadata struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec struct {
				Containers []container `json:"containers"`
			} `json:"spec"`
			Status struct {
				PodIP      string `json:"podIP"`
				Conditions []struct {
					Type   string `json:"type"`
					Status string `json:"status"`
				} `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	out := c.MustKubectl(t, ctx, "", "-n", "daprshop", "get", "pods", "-l", "app.kubernetes.io/part-of=daprshop", "-o", "json")
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	pods := map[string][]podRef{}
	for _, p := range list.Items {
		ready := false
		for _, cond := range p.Status.Conditions {
			ready = ready || (cond.Type == "Ready" && cond.Status == "True")
		}
		if !ready {
			continue
		}
		app := p.Metadata.Labels["app.kubernetes.io/name"]
		assert.True(t, hasContainer(p.Spec.Containers, "daprd"), "%s runs its injected daprd", p.Metadata.Name)
		pods[app] = append(pods[app], podRef{name: p.Metadata.Name, ip: p.Status.PodIP})
	}
	return pods
}

type podRef struct{ name, ip string }

// appClient calls an app's own port in its pod with its app token, as its
// sidecar does: the internal read routes the invariant checker uses.
type appClient struct {
	pods  []podRef
	port  int
	token string
}

// stockLevel is one product's units as catalog's /stock shows them.
type stockLevel struct {
	ID        string `json:"id"`
	Available int64  `json:"available"`
	Reserved  int64  `json:"reserved"`
	Sold      int64  `json:"sold"`
}

func (s stockLevel) total() int64 { return s.Available + s.Reserved + s.Sold }

func (a appClient) stock(t *testing.T, ctx context.Context) map[string]stockLevel {
	t.Helper()
	require.NotEmpty(t, a.pods)
	var out struct {
		Items []stockLevel `json:"items"`
	}
	url := fmt.Sprintf("http://%s:%d/stock", a.pods[0].ip, a.port)
	require.NoError(t, doJSON(ctx, "GET", url, "", map[string]string{"dapr-api-token": a.token}, 200, &out))
	m := map[string]stockLevel{}
	for _, s := range out.Items {
		m[s.ID] = s
	}
	require.NotEmpty(t, m, "the catalog's stock")
	return m
}

// merchant is the merchant's balance in cents, as payments keeps it.
func (a appClient) merchant(t *testing.T, ctx context.Context) int64 {
	t.Helper()
	require.NotEmpty(t, a.pods)
	var m struct {
		BalanceCents int64 `json:"balance_cents"`
	}
	url := fmt.Sprintf("http://%s:%d/merchant", a.pods[0].ip, a.port)
	require.NoError(t, doJSON(ctx, "GET", url, "", map[string]string{"dapr-api-token": a.token}, 200, &m))
	return m.BalanceCents
}
