package tests

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/daprdtest"
	"github.com/daprshop/daprshop/internal/proc"
)

// TestAppsFailClosedWithoutTokens runs each app's binary, as the launcher
// built it and as the Dapr CLI runs it, outside the system: without its
// tokens it refuses to start, naming what is missing and the opt-out; with
// the opt-out it serves and says so in a warning.
func TestAppsFailClosedWithoutTokens(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	for _, app := range apps {
		bin, args, dir := appCommand(t, root, app)
		want := "DAPR_API_TOKEN and APP_API_TOKEN not set"
		if app == "gateway" {
			// Its routes are public; what guards it is its sidecar's token.
			want = "DAPR_API_TOKEN not set"
		}
		t.Run(app+" without tokens", func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			cmd := exec.Command(bin, args...)
			cmd.Dir = dir
			cmd.Env = isolatedEnv(t)
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "it must exit, and not with success")
			assert.Equal(t, 1, exit.ExitCode())
			assert.Contains(t, stderr.String(), want)
			assert.Contains(t, stderr.String(), "DAPRSHOP_INSECURE_NO_TOKENS=1")
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr.String()), "\n")+1, "one clear line, got:\n%s", stderr.String())
		})
		t.Run(app+" with the opt-out", func(t *testing.T) {
			t.Parallel()
			env := isolatedEnv(t)
			port := daprdtest.FreePorts(t, 1)[0]
			env = append(env, "DAPRSHOP_INSECURE_NO_TOKENS=1", fmt.Sprintf("APP_PORT=%d", port))
			serving := daprdtest.Run(t, proc.Spec{
				Name:  app,
				Path:  bin,
				Args:  args,
				Dir:   dir,
				Env:   env,
				Ready: proc.HTTP(fmt.Sprintf("http://127.0.0.1:%d/healthz", port), http.StatusOK),
			}, 30*time.Second) // it serves
			stdout := serving.Out
			assert.Contains(t, stdout.String(), `"level":"WARN"`)
			assert.Contains(t, stdout.String(), "DAPRSHOP_INSECURE_NO_TOKENS is set: running without API tokens")
		})
	}
}

// appCommand is how the run file starts app: the binary the launcher built
// for a Go app, the run file's command (node and its script) for another,
// in the app's folder.
func appCommand(t *testing.T, root, app string) (bin string, args []string, dir string) {
	t.Helper()
	a, ok := sys.App(app)
	require.True(t, ok, "app %s is in the run file", app)
	if app != "recommendations" {
		return filepath.Join(root, ".bin", "apps", app), nil, a.AppDirPath
	}
	bin, err := exec.LookPath(a.Command[0])
	require.NoError(t, err)
	return bin, a.Command[1:], a.AppDirPath
}

// isolatedEnv is an environment with no token and a sidecar address where
// nothing listens, so an app started with it reaches no sidecar of the
// running system.
func isolatedEnv(t *testing.T) []string {
	t.Helper()
	ports := daprdtest.FreePorts(t, 2)
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"APP_HOST=127.0.0.1",
		fmt.Sprintf("DAPR_HTTP_PORT=%d", ports[0]),
		fmt.Sprintf("DAPR_GRPC_PORT=%d", ports[1]),
		"OTEL_SDK_DISABLED=true",
	}
}
