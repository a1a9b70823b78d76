package launcher

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/proc"
)

func TestNodeTooOld(t *testing.T) {
	t.Parallel()
	tests := []struct {
		version, want string
	}{
		{"v20.20.2", ""},
		{"v22.1.0", ""},
		{"v18.19.1", "Node.js is v18.19.1; it needs 20 or later"},
		{"v8.0.0", "Node.js is v8.0.0; it needs 20 or later"},
		{"twenty", `node --version says "twenty", not a version`},
		{"", `node --version says "", not a version`},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			assert.Equal(t, tt.want, nodeTooOld(tt.version))
		})
	}
}

// TestSkipUnrunnable: without node, the Node.js app is left out with one
// line saying why, and every Go app is kept.
func TestSkipUnrunnable(t *testing.T) {
	t.Parallel()
	nodeDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(nodeDir, "package.json"), []byte(`{}`), 0o644))
	goDir := t.TempDir()
	apps := []App{
		{AppSettings: AppSettings{AppID: "orders", AppDirPath: goDir, Command: []string{"../../.bin/apps/orders"}}},
		{AppSettings: AppSettings{AppID: "recommendations", AppDirPath: nodeDir, Command: []string{"node", "dist/src/main.js"}}},
		// `node` in a folder without a package.json is not built or
		// skipped by the launcher: it is the user's own command.
		{AppSettings: AppSettings{AppID: "script", AppDirPath: goDir, Command: []string{"node", "x.js"}}},
	}
	tests := []struct {
		name     string
		lookPath func(string) (string, error)
		want     []string
		line     string
	}{
		{"no node", func(string) (string, error) { return "", errors.New("not found") },
			[]string{"orders", "script"}, "recommendations skipped: Node.js 20 or later is not installed (no node on PATH); the rest runs without it"},
		{"node without npm", func(f string) (string, error) {
			if f == "npm" {
				return "", errors.New("not found")
			}
			return "/bin/true", nil
		}, []string{"orders", "script"}, "recommendations skipped: npm is not installed (Node.js is, without it); the rest runs without it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			s := &System{apps: append([]App(nil), apps...), lookPath: tt.lookPath}
			s.out = proc.NewLines(&out, "launcher")
			s.skipUnrunnable()
			var ids []string
			for _, a := range s.apps {
				ids = append(ids, a.AppID)
			}
			assert.Equal(t, tt.want, ids)
			assert.Contains(t, out.String(), tt.line)
			assert.Equal(t, 1, bytes.Count(out.Bytes(), []byte("\n")), "one line: %s", out.String())
		})
	}
}
