package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/logging"
	"github.com/daprshop/daprshop/internal/web"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{"a well-formed id is kept", "req-42.a:b_c", true},
		{"none gets one", "", false},
		{"too long gets a new one", strings.Repeat("a", 65), false},
		{"a forged log line gets a new one", "x\n{\"level\":\"ERROR\"}", false},
		{"spaces get a new one", "a b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger := logging.New(&buf, "test", "info")
			var seen string
			h := web.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = r.Header.Get(web.RequestIDHeader)
				logger.InfoContext(r.Context(), "handled")
			}))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.sent != "" {
				r.Header.Set(web.RequestIDHeader, tt.sent)
			}
			w := httptest.NewRecorder()

			h.ServeHTTP(w, r)

			got := w.Header().Get(web.RequestIDHeader)
			if tt.kept {
				assert.Equal(t, tt.sent, got)
			} else {
				assert.NoError(t, uuid.Validate(got), "a new UUID, got %q", got)
			}
			assert.Equal(t, got, seen, "the request carries the id on to proxies")
			var rec map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
			assert.Equal(t, got, rec["request_id"], "the log line shows it")
		})
	}
}
