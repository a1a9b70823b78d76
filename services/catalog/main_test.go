package main

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for _, ttl := range []string{"0", "-1s", "soon", "2"} {
		t.Run(ttl, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"CACHE_TTL": ttl, "APP_PORT": "0"}
			err := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard)
			assert.ErrorContains(t, err, "CACHE_TTL")
		})
	}
}
