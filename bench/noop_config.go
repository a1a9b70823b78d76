package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// The no-op ceiling runs with the project's own settings, read from the
// files the checkout's sidecar runs with, so that the two are compared like
// for like and stay so when the files change: the workflow engine's store
// as components/local/orders-workflows.yaml sets it (its SQLite settings;
// only the file's path differs), and the tracing of dapr/config/orders.yaml
// (its sampling rate and exporter). Not copied: access control and mTLS,
// which act on calls between sidecars, and the ceiling's activities make
// none.

// noopStore is the local profile's workflow store, renamed, unscoped (the
// ceiling's app id is not orders) and in dir.
func noopStore(root string) (string, error) {
	var c map[string]any
	if err := readYAML(filepath.Join(root, "components", "local", "orders-workflows.yaml"), &c); err != nil {
		return "", err
	}
	delete(c, "scopes")
	meta, _ := c["metadata"].(map[string]any)
	spec, _ := c["spec"].(map[string]any)
	items, _ := spec["metadata"].([]any)
	if meta == nil || len(items) == 0 {
		return "", fmt.Errorf("orders-workflows.yaml: no metadata")
	}
	meta["name"] = "noop-store"
	found := false
	for _, it := range items {
		m, _ := it.(map[string]any)
		if m["name"] != "connectionString" {
			continue
		}
		v, _ := m["value"].(string)
		query := ""
		if i := strings.IndexByte(v, '?'); i >= 0 {
			query = v[i:]
		}
		m["value"] = "{{dir}}/noop.db" + query
		found = true
	}
	if !found {
		return "", fmt.Errorf("orders-workflows.yaml: no connectionString")
	}
	return marshalYAML(c)
}

// noopConfig is benchConfig with the tracing and workflow blocks of
// orders' own Configuration (its sampling, its engine's concurrency caps).
func noopConfig(root string) (string, error) {
	var c struct {
		Spec struct {
			Tracing  map[string]any `yaml:"tracing"`
			Workflow map[string]any `yaml:"workflow"`
		} `yaml:"spec"`
	}
	if err := readYAML(filepath.Join(root, "dapr", "config", "orders.yaml"), &c); err != nil {
		return "", err
	}
	blocks := map[string]any{}
	if c.Spec.Tracing != nil {
		blocks["tracing"] = c.Spec.Tracing
	}
	if c.Spec.Workflow != nil {
		blocks["workflow"] = c.Spec.Workflow
	}
	if len(blocks) == 0 {
		return benchConfig, nil
	}
	b, err := marshalYAML(blocks)
	if err != nil {
		return "", err
	}
	var indented strings.Builder
	for _, l := range strings.Split(strings.TrimRight(b, "\n"), "\n") {
		indented.WriteString("  " + l + "\n")
	}
	return benchConfig + indented.String(), nil
}

// marshalYAML writes v indented by two spaces, as the project's files are.
func marshalYAML(v any) (string, error) {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return b.String(), enc.Close()
}

func readYAML(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
