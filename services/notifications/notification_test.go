package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/daprshop/daprshop/internal/cloudevent"
)

func TestInboxAdd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		existing  int
		wantLen   int
		wantFirst string
		wantLast  string
	}{
		{"empty inbox", 0, 1, "new", "new"},
		{"some room left", 3, 4, "new", "n0"},
		{"one below the cap", maxInboxItems - 1, maxInboxItems, "new", "n0"},
		{"at the cap the oldest falls off", maxInboxItems, maxInboxItems, "new", "n1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var in Inbox
			for i := range tt.existing {
				in.Add(Notification{ID: fmt.Sprintf("n%d", i)})
			}

			in.Add(Notification{ID: "new"})

			require.Len(t, in.Items, tt.wantLen)
			assert.Equal(t, tt.wantFirst, in.Items[0].ID)
			assert.Equal(t, tt.wantLast, in.Items[len(in.Items)-1].ID)
		})
	}
}

func TestInboxAddKeepsTheNewest(t *testing.T) {
	t.Parallel()
	var in Inbox
	const total = maxInboxItems + 25

	for i := range total {
		in.Add(Notification{ID: fmt.Sprintf("n%d", i)})
	}

	require.Len(t, in.Items, maxInboxItems)
	for i, n := range in.Items {
		assert.Equal(t, fmt.Sprintf("n%d", total-1-i), n.ID, "position %d", i)
	}
}

func TestUserRegisteredValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ev      userRegistered
		wantErr bool
	}{
		{"valid", userRegistered{UserID: adaID, Name: "Ada"}, false},
		{"no name is fine", userRegistered{UserID: adaID}, false},
		{"empty user id", userRegistered{}, true},
		{"user id not a UUID", userRegistered{UserID: "ada"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.ev.Validate()

			if !tt.wantErr {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, cloudevent.ErrPoison)
		})
	}
}

func TestWelcome(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 2, 4, 4, 5, 0, time.FixedZone("CET", 3600))

	n := welcome("ev-1", userRegistered{UserID: adaID, Name: "Ada"}, at)

	assert.Equal(t, Notification{ID: "ev-1", Kind: "welcome", Message: "Welcome to daprshop, Ada!", CreatedAt: wantCreatedAt}, n)
}
