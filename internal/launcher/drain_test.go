package launcher

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTraceDrainAcceptsSpansAndStandsAside(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	d := startTraceDrain(addr)
	require.NotNil(t, d, "a free port is taken by the drain")
	defer d.close()
	for _, ct := range []string{"application/x-protobuf", "application/json"} {
		resp, err := http.Post("http://"+addr+"/v1/traces", ct, strings.NewReader("{}")) //nolint:noctx // a local probe
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "spans sent as %s are accepted", ct)
	}
	assert.Nil(t, startTraceDrain(addr), "a collector already on the port is left alone")
}
