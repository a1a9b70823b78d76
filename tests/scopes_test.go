package tests

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestPublishOutsideItsScopeIsRefused: on the running profile, the sidecar
// of every app refuses to publish each topic the pubsub component does not
// scope to that app (users alone publishes user.registered, orders alone
// the order topics, ...), and refuses a topic that does not exist. Any
// local process holding a sidecar's token could otherwise publish
// user.registered and have payments open a funded wallet.
func TestPublishOutsideItsScopeIsRefused(t *testing.T) {
	skipShort(t)
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	profile := os.Getenv("PROFILE")
	if profile == "" {
		profile = "local"
	}
	b, err := os.ReadFile(filepath.Join(root, "components", profile, "pubsub.yaml"))
	require.NoError(t, err)
	var component struct {
		Spec struct {
			Metadata []struct{ Name, Value string } `yaml:"metadata"`
		} `yaml:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(b, &component))
	meta := map[string]string{}
	for _, m := range component.Spec.Metadata {
		meta[m.Name] = m.Value
	}
	topics := strings.Split(meta["allowedTopics"], ",")
	require.Contains(t, topics, "user.registered")
	mayPublish := map[string][]string{}
	for part := range strings.SplitSeq(meta["publishingScopes"], ";") {
		app, list, _ := strings.Cut(part, "=")
		mayPublish[app] = strings.Split(list, ",")
	}
	token := sys.Env()["DAPR_API_TOKEN"]

	refused := 0
	for _, app := range apps {
		for _, topic := range append(slices.Clone(topics), "not.a.topic") {
			if slices.Contains(mayPublish[app], topic) {
				continue
			}
			t.Run(app+" publishes "+topic, func(t *testing.T) {
				t.Parallel()
				status, _, body := do(t, http.MethodPost, sidecarURL(t, app)+"/v1.0/publish/pubsub/"+topic,
					"application/json", strings.NewReader(`{"id":"scope-probe"}`), map[string]string{"dapr-api-token": token})
				assert.Equal(t, http.StatusForbidden, status, "%s", body)
				assert.Contains(t, string(body), "ERR_PUBSUB_FORBIDDEN")
			})
			refused++
		}
	}
	// users' own topic through users' sidecar stays open (the messaging
	// tests publish it that way); here, that the loop above tried enough.
	assert.Greater(t, refused, len(apps)*len(topics)/2)
}
