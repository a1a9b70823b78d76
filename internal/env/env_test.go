package env_test

import (
	"testing"

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
