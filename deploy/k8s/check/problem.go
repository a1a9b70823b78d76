package check

import (
	"fmt"
	"sort"
	"strings"
)

// The checks, as named in Problems. Tests assert them, so each names one
// class of mistake.
const (
	CheckDecode        = "decode"           // an object that is not a known kind, or has an unknown or ill-typed field
	CheckApps          = "apps"             // run-file apps and Deployments do not pair up
	CheckAppID         = "app-id"           // a Deployment's Dapr app id
	CheckAppPort       = "app-port"         // a Deployment's app port
	CheckDapr          = "dapr-annotations" // the other Dapr annotations: unknown keys, health checks, protocol, Configuration
	CheckShutdown      = "shutdown"         // graceful shutdown of app and sidecar
	CheckTokens        = "tokens"           // app and Dapr API tokens
	CheckEnv           = "env"              // the environment the run file gives an app
	CheckComponents    = "components"       // Dapr components against components/local
	CheckConfiguration = "configuration"    // Dapr Configurations against dapr/config
	CheckSubscriptions = "subscriptions"    // Subscriptions against dapr/resources
	CheckResiliency    = "resiliency"       // Resiliency against dapr/resources
	CheckImages        = "images"           // image references
	CheckProbes        = "probes"           // liveness and readiness probes
	CheckResources     = "resources"        // requests and limits
	CheckSecurity      = "security-context" // security contexts
	CheckSecrets       = "secrets"          // inlined secrets
	CheckAvailability  = "availability"     // PodDisruptionBudgets, autoscalers, replicas
	CheckNetwork       = "network"          // NetworkPolicies, Services, Ingresses
	CheckInjection     = "injection"        // what Dapr's sidecar injector makes of a pod template
)

// A Problem is one mistake found by one check.
type Problem struct {
	Check  string // one of the Check constants
	Object string // "Kind/name", or a file of the repository
	Detail string
}

func (p Problem) Error() string {
	return fmt.Sprintf("%s: %s: %s", p.Check, p.Object, p.Detail)
}

func problem(check, object, format string, args ...any) Problem {
	return Problem{Check: check, Object: object, Detail: fmt.Sprintf(format, args...)}
}

// Problems is a list of problems, printed one per line.
type Problems []Problem

func (ps Problems) String() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// Of returns the problems of one check.
func (ps Problems) Of(check string) Problems {
	var out Problems
	for _, p := range ps {
		if p.Check == check {
			out = append(out, p)
		}
	}
	return out
}
