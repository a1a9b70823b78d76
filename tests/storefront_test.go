package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The storefront in a real browser: tests/browser/storefront.test.mjs,
// run by Node's test runner with playwright-core driving Debian's
// chromium against the running system's gateway. It runs once, on the
// default profile and name resolution (the page does not see either). On
// a machine without Node.js or chromium it is skipped with the reason,
// except in CI (CI set), where it must run.
func TestStorefrontInABrowser(t *testing.T) {
	skipShort(t)
	if p, nr := os.Getenv("PROFILE"), os.Getenv("NAMERESOLUTION"); (p != "" && p != "local") || (nr != "" && nr != "sqlite") {
		t.Skip("the browser tests run once, on the local profile with SQLite name resolution")
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	node, err := exec.LookPath("node")
	missing := ""
	switch {
	case err != nil:
		missing = "node (Node.js 20 or later) is not on PATH"
	case fileMissing(chromium):
		missing = chromium + " is missing (apt-get install chromium, or set CHROMIUM)"
	case fileMissing(filepath.Join("browser", "node_modules", "playwright-core")):
		missing = "tests/browser/node_modules is missing (make browser-deps)"
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("the browser tests must run in CI: %s", missing)
		}
		t.Skipf("browser tests skipped: %s", missing)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "storefront.test.mjs")
	cmd.Dir = "browser"
	gw, ok := sys.App("gateway")
	require.True(t, ok)
	cmd.Env = append(os.Environ(), "SHOP_URL="+gatewayURL(t), "CHROMIUM="+chromium, // and SCREENSHOTS, if set
		"SHOP_RATE_BURST="+gw.Env["RATE_LIMIT_BURST"])
	if slices.Contains(apps, "recommendations") {
		cmd.Env = append(cmd.Env, "RECOMMENDATIONS=1") // the product page has them
	}
	out, err := cmd.CombinedOutput()
	t.Logf("node --test tests/browser/storefront.test.mjs:\n%s", out)
	require.NoError(t, err, "the browser tests failed (their output is above)")
}

func fileMissing(path string) bool {
	_, err := os.Stat(path)
	return err != nil
}
