// Package env reads configuration the way every app's run does: through the
// getenv function it is given (never os.Getenv directly), with defaults.
package env

// Or returns the value of key, or def when it is unset or empty.
func Or(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
