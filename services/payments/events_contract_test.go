package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/eventschema"
)

// payments reads every user.registered its schema allows: the schema's
// examples decode and pass the consumer's own check, and the one field it
// needs is one the schema requires.
func TestConsumesWhatTheSchemaAllows(t *testing.T) {
	schema, err := eventschema.Load("user.registered")
	require.NoError(t, err)
	assert.NoError(t, schema.Requires("user_id"))
	require.NotEmpty(t, schema.Examples)
	for _, ex := range schema.Examples {
		var ev userRegistered
		require.NoError(t, json.Unmarshal(ex, &ev))
		assert.NoError(t, ev.Validate(), "%s", ex)
	}
}
