package launcher

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseScopes reads a publishingScopes or subscriptionScopes value the way
// daprd does (pkg/scopes.GetScopedTopics): app=topic,topic;app=...
func parseScopes(t *testing.T, v string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for part := range strings.SplitSeq(strings.ReplaceAll(v, " ", ""), ";") {
		app, topics, ok := strings.Cut(part, "=")
		require.True(t, ok, "scope %q has no =", part)
		require.NotContains(t, out, app, "app %s is scoped twice", app)
		out[app] = []string{}
		if topics != "" {
			out[app] = strings.Split(topics, ",")
		}
	}
	return out
}

// TestPubsubTopicScopes holds the scopes of every profile's pubsub
// component to what the system does: each app of the run file is listed in
// both scopes (an app missing from them would be unscoped), every topic is
// protected (so only a scope admits it), and each app may publish and
// subscribe to exactly the topics its subscriptions, dead letters and
// outbox use.
func TestPubsubTopicScopes(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	apps, err := LoadRunFile(filepath.Join(root, "dapr", "dapr.yaml"), "local")
	require.NoError(t, err)
	var appIDs []string
	for _, a := range apps {
		appIDs = append(appIDs, a.AppID)
	}
	profiles, err := filepath.Glob(filepath.Join(root, "components", "*", "pubsub.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(profiles), 5)

	for _, path := range profiles {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			res, err := readResources([]string{dir, filepath.Join(root, "dapr", "resources")})
			require.NoError(t, err)

			// What the system really publishes and subscribes to, by app.
			wantPub, wantSub := map[string][]string{}, map[string][]string{}
			for _, id := range appIDs {
				wantPub[id], wantSub[id] = []string{}, []string{}
			}
			var pubsub resource
			for _, r := range res {
				switch {
				case r.Kind == "Component" && strings.HasPrefix(r.Spec.Type, "pubsub."):
					require.Empty(t, pubsub.Metadata.Name, "one pubsub component per profile")
					pubsub = r
				case r.Kind == "Subscription":
					require.Len(t, r.Scopes, 1, "subscription %s is scoped to one app", r.Metadata.Name)
					app := r.Scopes[0]
					wantSub[app] = append(wantSub[app], r.Spec.Topic)
					if r.Spec.DeadLetterTopic != "" {
						wantPub[app] = append(wantPub[app], r.Spec.DeadLetterTopic)
					}
				case r.Kind == "Component" && r.meta("outboxPublishTopic") != "":
					for _, app := range r.Scopes {
						internal := daprNamespace() + app + r.meta("outboxPublishTopic") + "outbox"
						wantPub[app] = append(wantPub[app], r.meta("outboxPublishTopic"), internal)
						wantSub[app] = append(wantSub[app], internal)
					}
				}
			}
			// Orders publishes its topics itself (services/orders/saga.go).
			wantPub["orders"] = append(wantPub["orders"], "order.completed", "order.cancelled")
			require.NotEmpty(t, pubsub.Metadata.Name, "a pubsub component")

			gotPub := parseScopes(t, pubsub.meta("publishingScopes"))
			gotSub := parseScopes(t, pubsub.meta("subscriptionScopes"))
			assert.ElementsMatch(t, appIDs, slices.Collect(maps.Keys(gotPub)), "every app, and only those, in publishingScopes")
			assert.ElementsMatch(t, appIDs, slices.Collect(maps.Keys(gotSub)), "every app, and only those, in subscriptionScopes")
			var all []string
			for _, id := range appIDs {
				assert.ElementsMatch(t, wantPub[id], gotPub[id], "topics %s may publish", id)
				assert.ElementsMatch(t, wantSub[id], gotSub[id], "topics %s may subscribe to", id)
				all = append(all, wantPub[id]...)
				all = append(all, wantSub[id]...)
			}
			slices.Sort(all)
			all = slices.Compact(all)
			assert.ElementsMatch(t, all, strings.Split(pubsub.meta("protectedTopics"), ","), "every topic is protected")
			assert.ElementsMatch(t, all, strings.Split(pubsub.meta("allowedTopics"), ","), "no other topic is allowed")
		})
	}
}
