// Package env reads configuration the way every app's run does: through the
// getenv function it is given (never os.Getenv directly), with defaults.
package env

import (
	"fmt"
	"time"
)

// Or returns the value of key, or def when it is unset or empty.
func Or(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// Duration reads a Go duration > 0 from key, def when unset or empty. A
// zero or negative duration is refused: as a timeout or a lifetime it would
// expire at once.
func Duration(getenv func(string) string, key, def string) (time.Duration, error) {
	d, err := time.ParseDuration(Or(getenv, key, def))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: want a Go duration > 0 such as %s, got %q", key, def, getenv(key))
	}
	return d, nil
}
