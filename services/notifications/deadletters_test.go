package main

import (
	"errors"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestEveryDeadLetterTopicIsWatched keeps deadLetterTopics and the
// subscriptions in step: every subscription's dead-letter topic has a
// notifications subscription routed to its dead-letter route, and no route
// waits on a topic nobody dead-letters to.
func TestEveryDeadLetterTopicIsWatched(t *testing.T) {
	t.Parallel()
	type subscription struct {
		Spec struct {
			Topic           string            `yaml:"topic"`
			Routes          map[string]string `yaml:"routes"`
			DeadLetterTopic string            `yaml:"deadLetterTopic"`
		} `yaml:"spec"`
		Scopes []string `yaml:"scopes"`
	}
	f, err := os.Open("../../dapr/resources/subscriptions.yaml")
	require.NoError(t, err)
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dlqs := map[string]bool{}
	watched := map[string]string{} // topic → route, of notifications' subscriptions
	for {
		var s subscription
		err := dec.Decode(&s)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if s.Spec.DeadLetterTopic != "" {
			dlqs[s.Spec.DeadLetterTopic] = true
		}
		for _, app := range s.Scopes {
			if app == "notifications" {
				watched[s.Spec.Topic] = s.Spec.Routes["default"]
			}
		}
	}
	require.NotEmpty(t, dlqs)

	want := map[string]bool{}
	for _, dlq := range deadLetterTopics {
		want[dlq] = true
	}
	assert.Equal(t, dlqs, want, "deadLetterTopics must list exactly the subscriptions' dead-letter topics")
	for dlq := range dlqs {
		assert.Equal(t, "/events/dead-letters/"+dlq, watched[dlq], "notifications' subscription to %s", dlq)
	}
}
