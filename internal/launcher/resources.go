package launcher

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// resource is the part of a Dapr resource (Component, Subscription, ...)
// the launcher needs.
type resource struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Type     string         `yaml:"type"`
		Metadata []metadataItem `yaml:"metadata"`
		// Subscription fields (v1alpha1 and v2alpha1 share these names).
		PubsubName      string `yaml:"pubsubname"`
		Topic           string `yaml:"topic"`
		DeadLetterTopic string `yaml:"deadLetterTopic"`
	} `yaml:"spec"`
	Scopes []string `yaml:"scopes"`
}

type metadataItem struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

func (r resource) meta(name string) string {
	for _, m := range r.Spec.Metadata {
		if m.Name == name {
			return m.Value
		}
	}
	return ""
}

// readResources reads every YAML document in the given folders.
func readResources(dirs []string) ([]resource, error) {
	var out []resource
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("read resources: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
				continue
			}
			path := filepath.Join(dir, e.Name())
			f, err := os.Open(path)
			if err != nil {
				return nil, err
			}
			dec := yaml.NewDecoder(f)
			for {
				var r resource
				err := dec.Decode(&r)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					f.Close()
					return nil, fmt.Errorf("parse %s: %w", path, err)
				}
				if r.Kind != "" {
					out = append(out, r)
				}
			}
			f.Close()
		}
	}
	return out, nil
}

// jetStreamPubsub is one pubsub.jetstream component and the topics that need
// a stream on it.
type jetStreamPubsub struct {
	Name    string
	NatsURL string
	Topics  []string
}

// jetStreamTopics finds the pubsub.jetstream components among res and, for
// each, every topic that something will publish to or subscribe on:
// subscription topics and their dead-letter topics, the topics named in
// publishingScopes, and for every state store with a transactional outbox
// the outbox topic plus Dapr's internal outbox topic of each app in the
// store's scopes (daprd names that one namespace+appID+topic+"outbox"; a
// self-hosted daprd's namespace is $NAMESPACE, else "default").
//
// Dapr's JetStream component creates no streams, and publishing to a subject
// no stream covers fails. It also uses one durable consumer name for every
// topic an app subscribes to, which JetStream allows only when each topic
// has a stream of its own (consumer names are per stream; see
// dapr/components-contrib#2385). Hence one stream per topic.
func jetStreamTopics(res []resource, namespace string, appIDs []string) []jetStreamPubsub {
	var out []jetStreamPubsub
	for _, r := range res {
		if r.Kind != "Component" || r.Spec.Type != "pubsub.jetstream" {
			continue
		}
		name := r.Metadata.Name
		topics := map[string]bool{}
		for _, scope := range strings.Split(r.meta("publishingScopes"), ";") {
			_, list, _ := strings.Cut(scope, "=")
			for _, t := range strings.Split(list, ",") {
				if t = strings.TrimSpace(t); t != "" {
					topics[t] = true
				}
			}
		}
		for _, s := range res {
			switch {
			case s.Kind == "Subscription" && s.Spec.PubsubName == name:
				if s.Spec.Topic != "" {
					topics[s.Spec.Topic] = true
				}
				if s.Spec.DeadLetterTopic != "" {
					topics[s.Spec.DeadLetterTopic] = true
				}
			case s.Kind == "Component" && strings.HasPrefix(s.Spec.Type, "state.") && s.meta("outboxPublishTopic") != "":
				topic := s.meta("outboxPublishTopic")
				if s.meta("outboxPublishPubsub") == name {
					topics[topic] = true
				}
				internal := s.meta("outboxPubsub")
				if internal == "" {
					internal = s.meta("outboxPublishPubsub")
				}
				if internal == name {
					// A store without scopes is loaded by every app.
					apps := s.Scopes
					if len(apps) == 0 {
						apps = appIDs
					}
					for _, app := range apps {
						topics[namespace+app+topic+"outbox"] = true
					}
				}
			}
		}
		list := make([]string, 0, len(topics))
		for t := range topics {
			list = append(list, t)
		}
		slices.Sort(list)
		out = append(out, jetStreamPubsub{Name: name, NatsURL: r.meta("natsURL"), Topics: list})
	}
	return out
}

// streamName turns a topic into a valid JetStream stream name (no dots,
// wildcards, slashes or spaces). Two topics may map to one name ("a.b" and
// "a_b"); ensureStreams refuses that rather than let one stream serve both.
func streamName(topic string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', '/', '\\', ' ', '\t':
			return '_'
		}
		return r
	}, topic)
}
