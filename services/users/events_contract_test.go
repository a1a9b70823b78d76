package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/eventschema"
)

// What users publishes to user.registered holds to the topic's schema
// (contracts/events/), for registrations at the edges of what is accepted.
func TestUserRegisteredHoldsToItsSchema(t *testing.T) {
	schema, err := eventschema.Load("user.registered")
	require.NoError(t, err)
	tests := []struct{ name, body string }{
		{"a plain registration", `{"email":"ada@example.com","name":"Ada Lovelace","password":"correct horse battery"}`},
		{"an address to lower-case, a name to trim", `{"email":"  Grace.Hopper@Example.COM ","name":"  Grace  ","password":"correct horse battery"}`},
		{"the longest name, not ASCII", `{"email":"z@example.org","name":"` + strings.Repeat("é", 100) + `","password":"correct horse battery"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemUsers()
			w := httptest.NewRecorder()
			newTestServer(store, ready).ServeHTTP(w, newRegisterRequest(tt.body))
			require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
			events := store.events()
			require.Len(t, events, 1)
			b, err := json.Marshal(events[0]) // as the store hands it to the outbox
			require.NoError(t, err)
			assert.NoError(t, schema.ValidatePublished(b))
		})
	}
}
