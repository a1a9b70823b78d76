package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// circuitState is the gateway's series for catalog's breaker: 0 closed,
// 1 half-open, 2 open (services/gateway/breaker.go).
const circuitState = `daprshop_gateway_circuit_state{app="catalog"} `

// invokeTimeout is the gateway's INVOKE_TIMEOUT (its default): the longest
// a request to a stuck app can take.
const invokeTimeout = 10 * time.Second

// TestCircuitBreakerOpensAndCloses freezes catalog (SIGSTOP: the process
// holds its port and answers nothing, the worst kind of failure) and shows
// the gateway's breaker for catalog open after a few failures: requests
// then fail at once with a 503 problem naming catalog and a Retry-After,
// not after the full timeout, while other apps' routes still work. When
// catalog is thawed, the breaker lets one request through and closes. A
// flood of 404s first shows that what clients can provoke never opens it.
func TestCircuitBreakerOpensAndCloses(t *testing.T) {
	skipShort(t)
	// Its own client address: the public routes are rate-limited per
	// address, and this test sends more than a burst in all.
	c := &http.Client{
		Timeout: 2 * invokeTimeout,
		Transport: &http.Transport{
			DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}}).DialContext,
		},
	}
	get := func(path string) (int, http.Header, []byte, time.Duration) {
		began := time.Now()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, gatewayURL(t)+path, nil)
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header, b, time.Since(began)
	}
	state := func() float64 { return metricValue(t, "gateway", circuitState) }

	// Clients' mistakes never open it.
	for range 12 {
		status, _, b, _ := get("/api/v1/products/no-such-product")
		require.Equal(t, http.StatusNotFound, status, "%s", b)
	}
	require.Zero(t, state(), "closed after a dozen 404s")
	status, _, b, _ := get("/api/v1/products?limit=1")
	require.Equal(t, http.StatusOK, status, "%s", b)

	pid := sys.PID("catalog")
	require.NotZero(t, pid, "catalog runs")
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			assert.NoError(t, syscall.Kill(pid, syscall.SIGCONT))
		}
	}
	t.Cleanup(thaw) // whatever happens, catalog runs again for the tests after this one
	// A stop is a group stop: every thread of catalog must reach it, and on
	// a loaded machine one may not have yet when kill returns.
	require.Eventually(t, func() bool { return allThreadsStopped(pid) }, 10*time.Second, 10*time.Millisecond,
		"catalog (pid %d) stopped", pid)

	// A few requests at once meet the stuck app; each fails as the
	// gateway's 503 problem, some after the invocation's timeout.
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			status, _, b, _ := get("/api/v1/products?limit=1")
			assert.Equal(t, http.StatusServiceUnavailable, status, "%s (catalog pid %d: %s)", b, pid, threadStates(pid))
		})
	}
	wg.Wait()
	require.Eventually(t, func() bool {
		if state() == 2 {
			return true
		}
		get("/api/v1/products?limit=1") // fails too while catalog is stuck; the breaker counts it
		return false
	}, 2*time.Minute, 100*time.Millisecond, "catalog's circuit opens")

	// Open: the gateway answers itself, at once.
	status, hdr, b, took := get("/api/v1/products?limit=1")
	require.Equal(t, http.StatusServiceUnavailable, status, "%s", b)
	assert.Less(t, took, invokeTimeout/2, "an open circuit answers without waiting on the app")
	var p problem
	require.NoError(t, json.Unmarshal(b, &p), "%s", b)
	assert.Equal(t, http.StatusServiceUnavailable, p.Status)
	assert.Contains(t, p.Detail, "the catalog service is failing")
	assert.Contains(t, p.Detail, "circuit open")
	secs, err := strconv.Atoi(hdr.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", hdr.Get("Retry-After"))
	assert.Positive(t, secs)
	assert.Positive(t, metricValue(t, "gateway", `daprshop_gateway_circuit_rejected_total{app="catalog"} `))

	// Other apps' routes do not share catalog's breaker: users answers a
	// wrong password as usual.
	status, _, b = do(t, http.MethodPost, gatewayURL(t)+"/api/v1/sessions", "application/json",
		strings.NewReader(`{"email":"nobody@example.com","password":"not-the-password"}`), nil)
	assert.Equal(t, http.StatusUnauthorized, status, "%s", b)

	// Thawed, catalog answers again; after the open period one request
	// tries it, and its success closes the circuit.
	thaw()
	require.Eventually(t, func() bool {
		status, _, _, _ := get("/api/v1/products?limit=1")
		return status == http.StatusOK
	}, 2*time.Minute, 250*time.Millisecond, "catalog answers through the gateway again")
	assert.Zero(t, state(), "closed again")
}

// threadStates lists the state letter of each thread of pid, from
// /proc/<pid>/task/<tid>/stat (T: stopped), or why it could not.
func threadStates(pid int) string {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err.Error()
	}
	var states []string
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return err.Error()
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
			states = append(states, string(b[i+2]))
		}
	}
	return strings.Join(states, "")
}

// allThreadsStopped: every thread of pid is in the stopped state.
func allThreadsStopped(pid int) bool {
	s := threadStates(pid)
	return s != "" && strings.Trim(s, "T") == ""
}
