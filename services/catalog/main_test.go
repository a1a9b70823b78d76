package main

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key, value string
	}{
		{"CACHE_TTL", "0"},
		{"CACHE_TTL", "-1s"},
		{"CACHE_TTL", "soon"},
		{"CACHE_TTL", "2"},
		{"RESERVATION_TTL", "0s"},
		{"RESERVATION_TTL", "two minutes"},
		{"SWEEP_INTERVAL", "-1s"},
		{"SWEEP_INTERVAL", "1"},
		{"FAULT_FAILURE_RATE", "2"},
		{"FAULT_LATENCY", "-5ms"},
		{"FAULT_STEP", "refund"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{tt.key: tt.value, "APP_PORT": "0"}
			err := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard)
			assert.ErrorContains(t, err, tt.key)
		})
	}
}
