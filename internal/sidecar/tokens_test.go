package sidecar

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRequireTokens(t *testing.T) {
	t.Parallel()
	both := []string{DaprTokenVar, AppTokenVar}
	tests := []struct {
		name     string
		env      map[string]string
		need     []string
		wantErr  []string // substrings; none: no error
		wantWarn bool
	}{
		{name: "both set", env: map[string]string{DaprTokenVar: "d", AppTokenVar: "a"}, need: both},
		{name: "only the one needed is set", env: map[string]string{DaprTokenVar: "d"}, need: []string{DaprTokenVar}},
		{
			name: "app token missing", env: map[string]string{DaprTokenVar: "d"}, need: both,
			wantErr: []string{"APP_API_TOKEN not set", "make infra", InsecureVar + "=1"},
		},
		{
			name: "both missing are both named", env: map[string]string{}, need: both,
			wantErr: []string{"DAPR_API_TOKEN and APP_API_TOKEN not set"},
		},
		{name: "opted out", env: map[string]string{InsecureVar: "1"}, need: both, wantWarn: true},
		{name: "opted out with true", env: map[string]string{InsecureVar: "true"}, need: both, wantWarn: true},
		{
			name: "opted out explicitly not", env: map[string]string{InsecureVar: "0"}, need: both,
			wantErr: []string{"DAPR_API_TOKEN and APP_API_TOKEN not set"},
		},
		{name: "an opt-out that means nothing is refused", env: map[string]string{InsecureVar: "yes please", DaprTokenVar: "d", AppTokenVar: "a"}, need: both, wantErr: []string{InsecureVar + ": want 1 or 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&log, nil))

			err := RequireTokens(context.Background(), func(k string) string { return tt.env[k] }, logger, tt.need...)

			if len(tt.wantErr) > 0 {
				for _, want := range tt.wantErr {
					assert.ErrorContains(t, err, want)
				}
			} else {
				assert.NoError(t, err)
			}
			if tt.wantWarn {
				assert.Contains(t, log.String(), `"level":"WARN"`)
				assert.Contains(t, log.String(), InsecureVar+" is set")
			} else {
				assert.Empty(t, log.String(), "no warning without the opt-out")
			}
		})
	}
}
