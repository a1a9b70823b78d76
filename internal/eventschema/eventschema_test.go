package eventschema

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The topics the shop publishes; each has a schema.
var published = []string{"order.cancelled", "order.completed", "user.registered"}

func TestEverySchemaCompilesAndItsExamplesHold(t *testing.T) {
	topics, err := Topics()
	require.NoError(t, err)
	assert.Equal(t, published, topics)
	for _, topic := range topics {
		t.Run(topic, func(t *testing.T) {
			s, err := Load(topic)
			require.NoError(t, err)
			require.NotEmpty(t, s.Examples, "a schema shows at least one event")
			require.NotEmpty(t, s.Required)
			for _, r := range s.Required {
				assert.Contains(t, s.Declared, r, "a required field is declared")
			}
			for _, ex := range s.Examples {
				assert.NoError(t, s.ValidatePublished(ex))
			}
		})
	}
}

// The validator refuses what the schemas rule out: each case changes one
// field of the topic's first example.
func TestSchemasRefuse(t *testing.T) {
	tests := []struct {
		topic, name string
		change      func(m map[string]any)
		want        string
	}{
		{"user.registered", "a missing user_id", func(m map[string]any) { delete(m, "user_id") }, "user_id"},
		{"user.registered", "an upper-case id", func(m map[string]any) { m["user_id"] = "0B6C8F0E-5C1D-4F3A-9A57-2D1E6B7C8A90" }, "user_id"},
		{"user.registered", "a bad address", func(m map[string]any) { m["email"] = "not-an-address" }, "email"},
		{"user.registered", "an empty name", func(m map[string]any) { m["name"] = "" }, "name"},
		{"user.registered", "a time that is not RFC 3339", func(m map[string]any) { m["registered_at"] = "yesterday" }, "registered_at"},
		{"order.completed", "another status", func(m map[string]any) { m["status"] = "cancelled" }, "status"},
		{"order.completed", "a total as a string", func(m map[string]any) { m["total_cents"] = "1770" }, "total_cents"},
		{"order.completed", "no items", func(m map[string]any) { m["items"] = []any{} }, "items"},
		{"order.completed", "a line without quantity", func(m map[string]any) { m["items"] = []any{map[string]any{"product_id": "paper-filters-100"}} }, "quantity"},
		{"order.completed", "a reason", func(m map[string]any) { m["reason"] = "because" }, "reason"},
		{"order.cancelled", "no reason", func(m map[string]any) { delete(m, "reason") }, "reason"},
		{"order.cancelled", "a bad product id", func(m map[string]any) {
			m["items"] = []any{map[string]any{"product_id": "Paper Filters", "quantity": 1}}
		}, "product_id"},
	}
	for _, tt := range tests {
		t.Run(tt.topic+": "+tt.name, func(t *testing.T) {
			s, err := Load(tt.topic)
			require.NoError(t, err)
			var m map[string]any
			require.NoError(t, json.Unmarshal(s.Examples[0], &m))
			tt.change(m)
			b, err := json.Marshal(m)
			require.NoError(t, err)
			err = s.Validate(b)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestValidatePublishedRefusesUndeclaredFields(t *testing.T) {
	s, err := Load("user.registered")
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(s.Examples[0], &m))
	m["password_hash"] = "x"
	b, err := json.Marshal(m)
	require.NoError(t, err)
	assert.NoError(t, s.Validate(b), "consumers ignore fields they do not know")
	assert.ErrorContains(t, s.ValidatePublished(b), "fields the schema does not declare: password_hash")
}

func TestRequires(t *testing.T) {
	s, err := Load("order.completed")
	require.NoError(t, err)
	assert.NoError(t, s.Requires("order_id", "user_id", "items"))
	assert.ErrorContains(t, s.Requires("order_id", "reason", "coupon"), "does not require reason, coupon")
}

func TestLoadUnknownTopic(t *testing.T) {
	_, err := Load("order.shipped")
	assert.Error(t, err)
}
