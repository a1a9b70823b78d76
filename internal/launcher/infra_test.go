package launcher

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/proc"
)

func TestRequireTokens(t *testing.T) {
	tests := []struct {
		name     string
		file     map[string]string
		wantErr  string
		wantWarn bool
	}{
		{name: "both tokens", file: map[string]string{"DAPR_API_TOKEN": "d", "APP_API_TOKEN": "a"}},
		{name: "no sidecar token", file: map[string]string{"APP_API_TOKEN": "a"}, wantErr: "DAPR_API_TOKEN not set (in env.file or the environment): no sidecar starts"},
		{name: "no token at all", file: map[string]string{}, wantErr: "DAPR_API_TOKEN and APP_API_TOKEN not set"},
		{name: "the opt-out, said aloud", file: map[string]string{"DAPRSHOP_INSECURE_NO_TOKENS": "1"}, wantWarn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The launcher's own environment must not lend a token.
			t.Setenv("DAPR_API_TOKEN", "")
			t.Setenv("APP_API_TOKEN", "")
			t.Setenv("DAPRSHOP_INSECURE_NO_TOKENS", "")
			var out bytes.Buffer
			s := &System{cfg: Config{EnvFile: "env.file"}, apps: []App{{EnvFromFile: tt.file}}, out: proc.NewLines(&out, "launcher")}

			err := s.requireTokens()

			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
			} else {
				assert.NoError(t, err)
			}
			if tt.wantWarn {
				assert.Contains(t, out.String(), "WARNING: DAPRSHOP_INSECURE_NO_TOKENS is set")
			} else {
				assert.Empty(t, out.String())
			}
		})
	}
}

func TestWriteCLIEnv(t *testing.T) {
	root := t.TempDir()
	t.Setenv("DAPRSHOP_INSECURE_NO_TOKENS", "")
	s := &System{
		cfg:  Config{RootDir: root, Profile: "local"},
		apps: []App{{EnvFromFile: map[string]string{"DAPR_API_TOKEN": "d-token", "APP_API_TOKEN": "a-token", "OTHER": "not exported"}}},
		mtls: true,
	}
	require.NoError(t, os.MkdirAll(s.sentryDir(), 0o700))
	require.NoError(t, os.WriteFile(s.trustAnchorsFile(), selfSignedPEM(t), 0o600))

	require.NoError(t, s.writeCLIEnv())

	b, err := os.ReadFile(filepath.Join(root, ".data", "local", "dapr-cli.env"))
	require.NoError(t, err)
	got := string(b)
	assert.Contains(t, got, "export APP_API_TOKEN='a-token'\n")
	assert.Contains(t, got, "export DAPR_API_TOKEN='d-token'\n")
	assert.Contains(t, got, "export DAPR_TRUST_ANCHORS='-----BEGIN CERTIFICATE-----\n")
	assert.NotContains(t, got, "OTHER")
	assert.NotContains(t, got, "DAPR_COMPONENTS_SOCKETS_FOLDER", "no pluggable component, no sockets folder")
	fi, err := os.Stat(s.CLIEnvFile())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "tokens are for the owner only")
}

// A profile with a pluggable component (redis): the CLI's daprd must look
// for its socket where the launcher's component serves it.
func TestWriteCLIEnvGivesTheSocketsFolder(t *testing.T) {
	root := t.TempDir()
	t.Setenv("DAPRSHOP_INSECURE_NO_TOKENS", "1")
	s := &System{cfg: Config{RootDir: root, Profile: "redis"}, apps: []App{{}}, pluggable: true}
	require.NoError(t, os.MkdirAll(s.DataDir(), 0o700))
	require.NoError(t, s.writeCLIEnv())
	b, err := os.ReadFile(s.CLIEnvFile())
	require.NoError(t, err)
	assert.Contains(t, string(b), "export DAPR_COMPONENTS_SOCKETS_FOLDER='"+filepath.Join(root, ".data", "redis", "sockets")+"'\n")
}
