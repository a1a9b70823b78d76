package main

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/daprshop/daprshop/internal/cloudevent"
)

// Wallet holds a user's money, in integer cents.
type Wallet struct {
	UserID       string    `json:"user_id"`
	BalanceCents int64     `json:"balance_cents"`
	OpenedAt     time.Time `json:"opened_at"`
}

// userRegistered is our copy of the users service's event: only the fields
// this service reads.
type userRegistered struct {
	UserID string `json:"user_id"`
}

// Validate refuses an event that names no user in the stored id form.
func (e userRegistered) Validate() error {
	if !isCanonicalUUID(e.UserID) {
		return fmt.Errorf("%w: user_id is not a lower-case UUID", cloudevent.ErrPoison)
	}
	return nil
}

// isCanonicalUUID accepts ids only in the form they are stored in
// (lower-case, dashed), so that one user has one wallet.
func isCanonicalUUID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}
