// Package eventschema holds the events the shop publishes to their JSON
// Schemas, contracts/events/<topic>.schema.json: the one statement of each
// event's data that the publishers, the Go consumers and the consumers in
// other languages are all tested against. Tests only: the services decode
// events into their own types and validate what they read.
package eventschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Folder is where the schemas are, from the repository's root.
const Folder = "contracts/events"

// Schema is one topic's schema.
type Schema struct {
	Topic string
	// Required are the fields every event of the topic carries; Declared
	// all the fields it may carry (top level).
	Required, Declared []string
	// Examples are the schema's own examples, valid events of the topic.
	Examples []json.RawMessage

	compiled *jsonschema.Schema
}

// Dir is the schemas' folder, found by walking up from the working
// directory (a package's, under go test) to the repository's root.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, Folder)); err == nil && fi.IsDir() {
			return filepath.Join(dir, Folder), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no %s above the working directory", Folder)
		}
		dir = parent
	}
}

// Topics are the topics that have a schema, sorted.
func Topics() ([]string, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.schema.json"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		out = append(out, strings.TrimSuffix(filepath.Base(f), ".schema.json"))
	}
	slices.Sort(out)
	return out, nil
}

// Load reads and compiles topic's schema. Formats (email, date-time) are
// asserted, not only annotated.
func Load(topic string) (*Schema, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, topic+".schema.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(path, doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	compiled, err := c.Compile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var head struct {
		Title      string                     `json:"title"`
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
		Examples   []json.RawMessage          `json:"examples"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if head.Title != topic {
		return nil, fmt.Errorf("%s: title %q, want the topic %q", path, head.Title, topic)
	}
	s := &Schema{Topic: topic, Required: head.Required, Examples: head.Examples, compiled: compiled}
	for p := range head.Properties {
		s.Declared = append(s.Declared, p)
	}
	slices.Sort(s.Declared)
	return s, nil
}

// Validate holds one event's data to the schema.
func (s *Schema) Validate(data []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: not JSON: %w", s.Topic, err)
	}
	if err := s.compiled.Validate(v); err != nil {
		return fmt.Errorf("%s: %w", s.Topic, err)
	}
	return nil
}

// ValidatePublished holds what a publisher sends to the schema, and
// refuses a field the schema does not declare: a publisher adds a field
// to the schema before it sends it, so that consumers can know of it.
func (s *Schema) ValidatePublished(data []byte) error {
	if err := s.Validate(data); err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return fmt.Errorf("%s: %w", s.Topic, err)
	}
	var undeclared []string
	for f := range fields {
		if !slices.Contains(s.Declared, f) {
			undeclared = append(undeclared, f)
		}
	}
	if len(undeclared) > 0 {
		slices.Sort(undeclared)
		return fmt.Errorf("%s: fields the schema does not declare: %s", s.Topic, strings.Join(undeclared, ", "))
	}
	return nil
}

// Requires says whether every field a consumer needs is one every event
// of the topic carries, naming those that are not.
func (s *Schema) Requires(fields ...string) error {
	var missing []string
	for _, f := range fields {
		if !slices.Contains(s.Required, f) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return errors.New(s.Topic + ": the schema does not require " + strings.Join(missing, ", "))
	}
	return nil
}
