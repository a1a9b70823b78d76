package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/eventschema"
)

// What orders publishes when a saga ends holds to order.completed's and
// order.cancelled's schemas (contracts/events/).
func TestOrderEventsHoldToTheirSchemas(t *testing.T) {
	now := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	base := Order{
		ID: "6f1de5a4-1c0b-4d7e-8b0a-3c2f9e8d7a61", UserID: "0b6c8f0e-5c1d-4f3a-9a57-2d1e6b7c8a90",
		Items: []Item{
			{ProductID: "paper-filters-100", Name: "Paper Filters, pack of 100", Quantity: 2, PriceCents: 590},
			{ProductID: "pour-over-kettle", Name: "Pour-over Kettle", Quantity: 1, PriceCents: 3490},
		},
		TotalCents: 4670, CreatedAt: now, UpdatedAt: &now,
	}
	tests := []struct {
		name, topic string
		status      Status
		reason      string
	}{
		{"completed", topicCompleted, StatusCompleted, ""},
		{"declined", topicCancelled, StatusCancelled, "payment declined: insufficient funds"},
		{"cancelled by its user", topicCancelled, StatusCancelled, "cancelled at your request"},
		{"a participant unreachable", topicCancelled, StatusCancelled, "the catalog could not be reached; nothing was charged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			schema, err := eventschema.Load(tt.topic)
			require.NoError(t, err)
			o := base
			o.Status, o.Reason = tt.status, tt.reason
			b, err := json.Marshal(newOrderEvent(o))
			require.NoError(t, err)
			assert.NoError(t, schema.ValidatePublished(b))
		})
	}
}
