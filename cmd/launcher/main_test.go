package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/daprshop/daprshop/internal/launcher"
)

func TestObserveHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		obs     []launcher.Observer
		want    []string
		notWant []string
	}{
		{
			name: "jaeger and prometheus",
			obs:  []launcher.Observer{{Name: "jaeger", URL: "http://127.0.0.1:16686"}, {Name: "prometheus", URL: "http://127.0.0.1:9090"}},
			want: []string{
				"traces   http://127.0.0.1:16686",
				"http://127.0.0.1:16686/api/traces?service=gateway",
				"metrics  http://127.0.0.1:9090",
			},
		},
		{
			name:    "jaeger alone",
			obs:     []launcher.Observer{{Name: "jaeger", URL: "http://127.0.0.1:16686"}},
			want:    []string{"traces   http://127.0.0.1:16686"},
			notWant: []string{"metrics"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := observeHelp(tt.obs)
			for _, w := range tt.want {
				assert.Contains(t, got, w)
			}
			for _, nw := range tt.notWant {
				assert.NotContains(t, got, nw)
			}
		})
	}
}
