package launcher

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/daprshop/daprshop/internal/proc"
	"github.com/daprshop/daprshop/internal/sidecar"
)

// CLIEnvFileName is the file, in the profile's data folder, that Config.Infra
// writes for the shell that runs `dapr run -f dapr/dapr.yaml`.
const CLIEnvFileName = "dapr-cli.env"

// getenv reads a variable as every daprd and app of the system will see it:
// from the env file when it sets it, else from the launcher's environment.
func (s *System) getenv(key string) string {
	if v, ok := s.apps[0].EnvFromFile[key]; ok {
		return v
	}
	return os.Getenv(key)
}

// requireTokens fails closed, as the apps do: no daprd starts without
// DAPR_API_TOKEN (it would serve any local process) and no app without
// APP_API_TOKEN, unless the operator opted out with sidecar.InsecureVar,
// which is said at every start.
func (s *System) requireTokens() error {
	insecure, err := sidecar.Insecure(s.getenv)
	if err != nil {
		return err
	}
	if insecure {
		s.out.System("WARNING: %s is set: sidecars and apps run without API tokens, so any local process may call them", sidecar.InsecureVar)
		return nil
	}
	var missing []string
	for _, k := range []string{sidecar.DaprTokenVar, sidecar.AppTokenVar} {
		if s.getenv(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not set (in %s or the environment): no sidecar starts without its tokens; %s=1 runs without them (never in production)",
			strings.Join(missing, " and "), s.cfg.EnvFile, sidecar.InsecureVar)
	}
	return nil
}

// infraOnly drops the sidecars and apps from the plan, for Config.Infra:
// the Dapr CLI starts those itself, from the run file as it is (the local
// profile with SQLite name resolution) or from CLIRunFile's copy.
func (s *System) infraOnly(specs map[string]proc.Spec) {
	n := len(s.tiers)
	for _, tier := range s.tiers[n-2:] {
		for _, name := range tier {
			delete(specs, name)
		}
	}
	s.tiers = s.tiers[:n-2]
}

// CLIEnvFile is the file Config.Infra writes the CLI's environment to.
func (s *System) CLIEnvFile() string {
	return filepath.Join(s.DataDir(), CLIEnvFileName)
}

// writeCLIEnv writes what the shell that runs `dapr run -f` must export:
// the API tokens (daprd and the apps inherit the CLI's environment, and the
// CLI reads no env file); with mTLS, sentry's root certificate, which a
// self-hosted daprd takes from DAPR_TRUST_ANCHORS only; and, when the
// profile has a pluggable component, the sockets folder it serves.
func (s *System) writeCLIEnv() error {
	vars := map[string]string{}
	for _, k := range []string{sidecar.DaprTokenVar, sidecar.AppTokenVar, sidecar.InsecureVar} {
		if v := s.getenv(k); v != "" {
			vars[k] = v
		}
	}
	if s.mtls {
		anchors, err := readTrustAnchors(s.trustAnchorsFile())
		if err != nil {
			return err
		}
		vars[trustAnchorsEnv] = strings.TrimSpace(string(anchors))
	}
	if s.pluggable {
		vars[socketsFolderEnv] = s.socketsFolder()
	}
	var b strings.Builder
	b.WriteString("# Written by `make infra` for the shell that runs `dapr run -f dapr/dapr.yaml`:\n")
	b.WriteString("# every daprd and app the Dapr CLI starts inherits these. Valid while `make infra` runs.\n")
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		fmt.Fprintf(&b, "export %s='%s'\n", k, vars[k])
	}
	return os.WriteFile(s.CLIEnvFile(), []byte(b.String()), 0o600)
}
