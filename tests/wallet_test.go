package tests

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A new user gets a welcome notification and a funded wallet within a few
// seconds, both from user.registered: users calls neither service.
func TestNewUserGetsWelcomeAndFundedWallet(t *testing.T) {
	skipShort(t)
	began := time.Now()
	u := registerUser(t, "Funded")
	awaitWelcome(t, u)
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		status, _, b := do(t, http.MethodGet, gatewayURL(t)+"/api/v1/wallet", "", nil, map[string]string{"Authorization": "Bearer " + u.Token})
		if !assert.Equal(c, http.StatusOK, status, "%s", b) {
			return
		}
		var w struct {
			BalanceCents int64 `json:"balance_cents"`
		}
		assert.NoError(c, json.Unmarshal(b, &w))
		assert.Equal(c, int64(100000), w.BalanceCents)
	}, 30*time.Second, 100*time.Millisecond)
	t.Logf("welcome and wallet %s after registering", time.Since(began).Round(10*time.Millisecond))

	status, _, _ := do(t, http.MethodGet, gatewayURL(t)+"/api/v1/wallet", "", nil, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
}
