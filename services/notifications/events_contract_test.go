package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/eventschema"
)

// notifications reads every event its topics' schemas allow: each
// schema's examples decode and pass the consumer's own checks, and every
// field it needs is one the schema requires, so a schema that dropped or
// loosened one fails here before a consumer meets such an event.
func TestConsumesWhatTheSchemasAllow(t *testing.T) {
	tests := []struct {
		topic string
		needs []string
		read  func(raw []byte) error
	}{
		{"user.registered", []string{"user_id", "name"}, func(raw []byte) error { return decodeAndValidate[userRegistered](raw) }},
		{"order.completed", []string{"order_id", "user_id", "status", "total_cents"}, func(raw []byte) error { return decodeAndValidate[orderFinished](raw) }},
		{"order.cancelled", []string{"order_id", "user_id", "status", "total_cents", "reason"}, func(raw []byte) error { return decodeAndValidate[orderFinished](raw) }},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			schema, err := eventschema.Load(tt.topic)
			require.NoError(t, err)
			assert.NoError(t, schema.Requires(tt.needs...))
			require.NotEmpty(t, schema.Examples)
			for _, ex := range schema.Examples {
				assert.NoError(t, tt.read(ex), "%s", ex)
			}
		})
	}
}

func decodeAndValidate[T interface{ Validate() error }](raw []byte) error {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	return v.Validate()
}
