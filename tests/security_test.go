package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The security scenario of the fault suite ("faults, chaos and attacks"):
// hostile requests against every layer, each a row of a table, each held to
// its documented answer and to changing nothing. What the other tests
// check one case at a time (acl_test.go, auth_test.go, orders_test.go,
// skeleton_test.go) is not repeated here; this covers the rest of each
// class. Every attempt is counted, and the summary gets one row.

// secTally counts the hostile requests of TestSecurityAttacks and the
// violations: attempts that did not get their documented answer or that
// changed something.
type secTally struct {
	attempts, violations int
}

// attempt runs one hostile request as a subtest: the assertions of check
// are the attempt's verdict, and a failed one counts as a violation.
func (s *secTally) attempt(t *testing.T, name string, check func(t *testing.T)) {
	t.Helper()
	s.attempts++
	if !t.Run(name, check) {
		s.violations++
	}
}

// verify runs a check of what the attempts may have changed: no attempt
// itself, but a failure is a violation.
func (s *secTally) verify(t *testing.T, name string, check func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, check) {
		s.violations++
	}
}

// secEnv is what the attack classes of TestSecurityAttacks share: the tally,
// the accounts registered on the way, the tokens, and the victims and
// attackers with Ada's order, the target of the attacks on orders.
type secEnv struct {
	tally                   *secTally
	accounts                *secAccounts
	daprToken, appToken, gw string
	sc                      *scenario
	ada, eve, bob, mallory  user
	pa, pb                  product
	target                  order
}

// secLineOf is an order body of one line: qty units of p.
func secLineOf(p product, qty int) string {
	return fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":%d}]}`, p.ID, qty)
}

// TestSecurityAttacks is the security scenario: "Every sidecar API refuses
// calls without the Dapr API token (health excepted); every app route
// refuses calls without the app token; the access-control allow-list holds,
// including path-traversal and encoded-character tricks; JWT attacks; one
// user reading or cancelling another's orders; mass assignment; oversized
// and deeply nested bodies; rate-limit evasion by rotating
// X-Forwarded-For; idempotency-key abuse. Each attempt gets the documented
// 4xx and changes nothing."
func TestSecurityAttacks(t *testing.T) {
	skipShort(t)
	tally := &secTally{}
	// The accounts the checks register on the way: their user.registered
	// events are awaited at the end, so that none lands in a later test.
	accounts := &secAccounts{}
	defer accounts.await(t)
	t.Cleanup(func() {
		recordChaos(chaosRow{
			Scenario: "security: hostile requests", Iterations: 1, Faults: tally.attempts,
			Work: fmt.Sprintf("%d attempts", tally.attempts), Violations: tally.violations, Settle: 0,
		})
		assert.Zero(t, tally.violations, "hostile requests answered other than documented, or changing something, out of %d", tally.attempts)
	})

	daprToken, appToken := sys.Env()["DAPR_API_TOKEN"], sys.Env()["APP_API_TOKEN"]
	require.NotEmpty(t, daprToken)
	require.NotEmpty(t, appToken)
	gw := gatewayURL(t)

	// The victims and the attackers, each with a fresh wallet; Ada's order
	// is the target of the attacks on orders.
	sc := newScenario(t, "Ada", "Eve", "Bob", "Mallory")
	ada, eve, bob, mallory := sc.users[0], sc.users[1], sc.users[2], sc.users[3]
	pa, pb := inStock(t)
	stockBefore := readStock(t)
	status, b := placeOrder(t, ada, uuid.NewString(), secLineOf(pa, 1))
	require.Equal(t, http.StatusAccepted, status, "%s", b)
	var target order
	require.NoError(t, json.Unmarshal(b, &target))
	sc.orders[target.ID] = ada
	// What the attack classes below close over.
	env := &secEnv{
		tally: tally, accounts: accounts, daprToken: daprToken, appToken: appToken, gw: gw,
		sc: sc, ada: ada, eve: eve, bob: bob, mallory: mallory, pa: pa, pb: pb, target: target,
	}

	t.Run("sidecar APIs need the Dapr API token", func(t *testing.T) { secSidecarAPIs(t, env) })
	t.Run("app routes need the app token", func(t *testing.T) { secAppRoutes(t, env) })
	t.Run("access control holds against path tricks", func(t *testing.T) { secAccessControl(t, env) })
	t.Run("forged and broken tokens", func(t *testing.T) { secForgedTokens(t, env) })
	t.Run("another user's orders", func(t *testing.T) { secOtherUsersOrders(t, env) })
	t.Run("encoded tricks in the public API", func(t *testing.T) { secEncodedTricks(t, env) })
	t.Run("mass assignment", func(t *testing.T) { secMassAssignment(t, env) })
	t.Run("oversized and nested bodies", func(t *testing.T) { secOversizedBodies(t, env) })
	t.Run("idempotency keys", func(t *testing.T) { secIdempotencyKeys(t, env) })

	tally.verify(t, "stock and money moved by the legitimate orders only", func(t *testing.T) {
		// Any order an attack made anyway is awaited too, and shows below.
		for _, u := range sc.users {
			for _, o := range myOrders(t, u) {
				if _, ok := sc.orders[o.ID]; !ok {
					t.Errorf("order %s of %s was made by an attack", o.ID, u.Name)
					sc.orders[o.ID] = u
				}
			}
		}
		sc.check(t)
		sold := map[string]int64{}
		for id, u := range sc.orders {
			o := awaitFinal(t, u, id, 2*time.Minute)
			if o.Status == "completed" {
				for _, it := range o.Items {
					sold[it.ProductID] += it.Quantity
				}
			}
		}
		after := readStock(t)
		for id, s := range stockBefore {
			assert.Equal(t, s.Sold+sold[id], after[id].Sold, "units of %s sold", id)
			assert.Equal(t, s.Available-sold[id], after[id].Available, "units of %s available", id)
			assert.Equal(t, s.Reserved, after[id].Reserved, "units of %s reserved", id)
		}
	})

	// Last: it empties the public bucket of this address, and waits for it.
	t.Run("rate limits hold against spoofed addresses", func(t *testing.T) { secRateLimits(t, env) })
}

// secAccounts are the users the security checks registered.
type secAccounts struct{ ids []string }

// add notes the user a 201 answer created.
func (s *secAccounts) add(a secAnswer) {
	var u user
	if a.status == http.StatusCreated && json.Unmarshal([]byte(a.body), &u) == nil && u.ID != "" {
		s.ids = append(s.ids, u.ID)
	}
}

// await waits until each account's registration event was applied: its
// welcome in the inbox and its wallet opened.
func (s *secAccounts) await(t *testing.T) {
	t.Helper()
	for _, id := range s.ids {
		assert.Eventually(t, func() bool {
			items, err := appInbox(id)
			return err == nil && len(items) == 1 && walletOpened(id) == nil
		}, time.Minute, 50*time.Millisecond, "the registration of %s was applied", id)
	}
}
