package sidecar

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// The API tokens of the sidecar pattern, and the one way to run without them.
const (
	// DaprTokenVar holds the token an app presents to its own sidecar.
	// daprd, started with it in its environment, refuses API calls without
	// it; started without it, daprd serves anyone who can reach its port.
	DaprTokenVar = "DAPR_API_TOKEN"
	// AppTokenVar holds the token a sidecar presents to its own app; the
	// app refuses every route but its probes without it.
	AppTokenVar = "APP_API_TOKEN"
	// InsecureVar, set to 1 (or true), lets an app start without its
	// tokens. It is the only opt-out, and an app started with it says so
	// in a warning every time it starts.
	InsecureVar = "DAPRSHOP_INSECURE_NO_TOKENS"
)

// RequireTokens fails closed: it returns an error naming every variable of
// names (DaprTokenVar, AppTokenVar) that is empty, and how to set it, unless
// the operator opted out with InsecureVar, which it logs as a warning.
func RequireTokens(ctx context.Context, getenv func(string) string, logger *slog.Logger, names ...string) error {
	insecure, err := Insecure(getenv)
	if err != nil {
		return err
	}
	var missing []string
	for _, n := range names {
		if getenv(n) == "" {
			missing = append(missing, n)
		}
	}
	if insecure {
		logger.WarnContext(ctx, InsecureVar+" is set: running without API tokens, so any local process may call this app or its sidecar; never do this outside a throwaway machine", "missing", missing)
		return nil
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s not set, so anything on this machine could call the app or its sidecar: "+
		"`make run` sets the tokens; for `dapr run -f dapr/dapr.yaml`, run `make infra` and source the file it names; "+
		"%s=1 runs without them (never in production)", strings.Join(missing, " and "), InsecureVar)
}

// Insecure reports whether the operator opted out of the API tokens with
// InsecureVar.
func Insecure(getenv func(string) string) (bool, error) {
	v := getenv(InsecureVar)
	if v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: want 1 or 0, got %q", InsecureVar, v)
	}
	return on, nil
}
