package main

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The ceiling's store and configuration are the project's, from its files.
func TestNoopRunsWithTheProjectsSettings(t *testing.T) {
	store, err := noopStore("..")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Metadata struct{ Name string }
		Spec     struct {
			Type     string
			Metadata []struct{ Name, Value string }
		}
		Scopes []string
	}
	if err := yaml.Unmarshal([]byte(store), &c); err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{}
	for _, m := range c.Spec.Metadata {
		meta[m.Name] = m.Value
	}
	if c.Metadata.Name != "noop-store" || len(c.Scopes) != 0 || meta["actorStateStore"] != "true" ||
		!strings.HasPrefix(meta["connectionString"], "{{dir}}/noop.db") || meta["busyTimeout"] == "" {
		t.Errorf("store:\n%s", store)
	}
	config, err := noopConfig("..")
	if err != nil {
		t.Fatal(err)
	}
	var got, orders struct {
		Spec struct {
			Tracing        map[string]any
			Workflow       map[string]any
			NameResolution map[string]any `yaml:"nameResolution"`
		}
	}
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(config, "{{dir}}", "/d")), &got); err != nil {
		t.Fatalf("%v:\n%s", err, config)
	}
	if err := readYAML("../dapr/config/orders.yaml", &orders); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Spec.Tracing, orders.Spec.Tracing) || !reflect.DeepEqual(got.Spec.Workflow, orders.Spec.Workflow) ||
		got.Spec.NameResolution == nil {
		t.Errorf("config:\n%s", config)
	}
	t.Logf("store:\n%s\nconfig:\n%s", store, config)
}
