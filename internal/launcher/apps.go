package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

func (s *System) appBinary(appID string) string {
	return filepath.Join(s.cfg.BinDir, "apps", appID)
}

// builtHere reports whether the app's command is its binary in
// BinDir/apps/<appID> (../../.bin/apps/<appID> in dapr/dapr.yaml), which
// the launcher builds from the app's folder before it starts anything. The
// run file names the binary rather than `go run .` so that the Dapr CLI,
// which stops an app by signalling it, stops the app itself and not a go
// tool whose child keeps the port (`make apps` builds it for the CLI).
func (s *System) builtHere(a App) bool {
	return len(a.Command) == 1 && resolve(a.AppDirPath, a.Command[0]) == s.appBinary(a.AppID)
}

// buildApps builds every app whose binary the launcher builds, and every
// Node.js app, in parallel.
func (s *System) buildApps(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, a := range s.apps {
		switch {
		case s.builtHere(a):
			wg.Go(func() {
				cmd := exec.CommandContext(ctx, "go", "build", "-o", s.appBinary(a.AppID), ".")
				cmd.Dir = a.AppDirPath
				if out, err := cmd.CombinedOutput(); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("build %s: %w\n%s", a.AppID, err, out))
					mu.Unlock()
				}
			})
		case nodeApp(a):
			wg.Go(func() {
				if err := buildNodeApp(ctx, a.AppDirPath); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("build %s: %w", a.AppID, err))
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// findDaprBinary finds a Dapr binary: the pinned build in BinDir (make
// tools), else an official install in ~/.dapr/bin of the same version.
func (s *System) findDaprBinary(name string) (string, error) {
	pinned := filepath.Join(s.cfg.BinDir, name)
	if _, err := os.Stat(pinned); err == nil {
		return pinned, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		installed := filepath.Join(home, ".dapr", "bin", name)
		if _, err := os.Stat(installed); err == nil {
			out, err := exec.Command(installed, "--version").Output()
			if err == nil && strings.TrimSpace(string(out)) == DaprVersion {
				return installed, nil
			}
			return "", fmt.Errorf("%s in ~/.dapr/bin is not version %s (it says %q); run `make tools` to build the pinned one", name, DaprVersion, strings.TrimSpace(string(out)))
		}
	}
	return "", fmt.Errorf("%s not found in %s or ~/.dapr/bin: run `make tools` first", name, s.cfg.BinDir)
}

// clearDir deletes what dir holds but its .gitkeep, which keeps the folder
// in a fresh clone for users of the Dapr CLI (SQLite does not create it).
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == ".gitkeep" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
