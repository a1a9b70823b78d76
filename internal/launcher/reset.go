package launcher

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// resetProfile runs components/<profile>/reset, when the profile has one,
// for a fresh system (Config.Fresh). Profiles whose data live in servers
// of the machine (Redis, PostgreSQL, MariaDB, their brokers) empty them
// there; the data folder, cleared before, holds the rest.
func (s *System) resetProfile(ctx context.Context) error {
	script := filepath.Join(s.cfg.RootDir, "components", s.cfg.Profile, "reset")
	if _, err := os.Stat(script); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script)
	cmd.Dir = s.cfg.RootDir
	out, err := cmd.CombinedOutput()
	if len(out) > 0 {
		s.out.System("reset: %s", out)
	}
	if err != nil {
		return fmt.Errorf("reset the %s profile's data (%s): %w", s.cfg.Profile, script, err)
	}
	s.out.System("profile %s: data reset", s.cfg.Profile)
	return nil
}
