package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
)

// MinNodeMajor is the oldest Node.js that runs the apps written for it
// (services/recommendations/package.json's engines).
const MinNodeMajor = 20

// nodeApp reports whether a runs on Node.js: its command is `node ...` in
// a folder with a package.json, which the launcher builds with npm.
func nodeApp(a App) bool {
	if len(a.Command) == 0 || a.Command[0] != "node" {
		return false
	}
	_, err := os.Stat(filepath.Join(a.AppDirPath, "package.json"))
	return err == nil
}

// skipUnrunnable leaves out the apps this machine cannot run (Node.js apps
// without Node.js 20 or later, or without npm), saying so in one line
// each; the rest of the system runs without them.
func (s *System) skipUnrunnable() {
	kept := s.apps[:0]
	for _, a := range s.apps {
		if nodeApp(a) {
			if why := s.nodeMissing(); why != "" {
				s.out.System("%s skipped: %s; the rest runs without it", a.AppID, why)
				continue
			}
		}
		kept = append(kept, a)
	}
	s.apps = kept
}

var nodeVersion = regexp.MustCompile(`^v(\d+)\.`)

// nodeMissing says why Node.js apps cannot run here, or "" when they can.
func (s *System) nodeMissing() string {
	lookPath := s.lookPath
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	node, err := lookPath("node")
	if err != nil {
		return fmt.Sprintf("Node.js %d or later is not installed (no node on PATH)", MinNodeMajor)
	}
	if _, err := lookPath("npm"); err != nil {
		return "npm is not installed (Node.js is, without it)"
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return fmt.Sprintf("node --version failed: %v", err)
	}
	return nodeTooOld(string(bytes.TrimSpace(out)))
}

// nodeTooOld says why the version `node --version` printed is too old, or
// "" when it will do.
func nodeTooOld(version string) string {
	m := nodeVersion.FindStringSubmatch(version)
	if m == nil {
		return fmt.Sprintf("node --version says %q, not a version", version)
	}
	if major, _ := strconv.Atoi(m[1]); major < MinNodeMajor {
		return fmt.Sprintf("Node.js is %s; it needs %d or later", version, MinNodeMajor)
	}
	return ""
}

// buildNodeApp installs a Node.js app's dependencies from its lock file
// when they are missing or older than it (npm ci, with no install scripts:
// nothing the app depends on needs one), then compiles it (npm run build).
func buildNodeApp(ctx context.Context, dir string) error {
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	lock, lerr := os.Stat(filepath.Join(dir, "package-lock.json"))
	if lerr != nil {
		return fmt.Errorf("%s has no package-lock.json: %w", dir, lerr)
	}
	if errors.Is(err, os.ErrNotExist) || (err == nil && installed.ModTime().Before(lock.ModTime())) {
		if err := npm(ctx, dir, "ci", "--ignore-scripts", "--no-audit", "--no-fund"); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	return npm(ctx, dir, "run", "--silent", "build")
}

func npm(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm %v in %s: %w\n%s", args, dir, err, out)
	}
	return nil
}
