package env_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/daprshop/daprshop/internal/env"
)

func TestOr(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"SET": "v", "EMPTY": ""}
	getenv := func(k string) string { return vars[k] }
	tests := []struct{ key, want string }{{"SET", "v"}, {"EMPTY", "def"}, {"UNSET", "def"}}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, env.Or(getenv, tt.key, "def"))
		})
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", 2 * time.Second, false},
		{"150ms", 150 * time.Millisecond, false},
		{"0", 0, true},
		{"0s", 0, true},
		{"-1s", 0, true},
		{"2", 0, true},
		{"soon", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			got, err := env.Duration(func(string) string { return tt.value }, "TTL", "2s")
			if tt.wantErr {
				assert.ErrorContains(t, err, "TTL")
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
