package main

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/daprshop/daprshop/internal/cloudevent"
)

// Notification is one message in a user's inbox. Its id is the id of the
// event that caused it.
type Notification struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"created_at"`
}

// Inbox holds a user's notifications, newest first.
type Inbox struct {
	Items []Notification `json:"items"`
}

// maxInboxItems bounds an inbox record; older notifications fall off.
const maxInboxItems = 100

// Add puts n in front and drops the oldest beyond maxInboxItems.
func (in *Inbox) Add(n Notification) {
	in.Items = append([]Notification{n}, in.Items...)
	if len(in.Items) > maxInboxItems {
		in.Items = in.Items[:maxInboxItems]
	}
}

// userRegistered is our copy of the users service's event: only the fields
// this service reads.
type userRegistered struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
}

// Validate refuses an event that names no user in the stored id form.
func (e userRegistered) Validate() error {
	if !isCanonicalUUID(e.UserID) {
		return fmt.Errorf("%w: user_id is not a lower-case UUID", cloudevent.ErrPoison)
	}
	return nil
}

// isCanonicalUUID accepts ids only in the form they are stored in
// (lower-case, dashed), so that one user has one inbox.
func isCanonicalUUID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}

// maxNameRunes bounds the name quoted in a message; the event comes from
// another service, and an inbox record holds up to maxInboxItems messages.
const maxNameRunes = 100

// welcome is the notification a new user gets.
func welcome(eventID string, ev userRegistered, at time.Time) Notification {
	return Notification{
		ID:        eventID,
		Kind:      "welcome",
		Message:   fmt.Sprintf("Welcome to daprshop, %s!", truncate(ev.Name, maxNameRunes)),
		CreatedAt: at.UTC(),
	}
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// orderFinished is our copy of the orders service's order.completed and
// order.cancelled events: only the fields this service reads.
type orderFinished struct {
	OrderID    string `json:"order_id"`
	UserID     string `json:"user_id"`
	Status     string `json:"status"`
	TotalCents int64  `json:"total_cents"`
	Reason     string `json:"reason"`
}

// Validate refuses an event that names no order or user in the stored id
// form, or no final status.
func (e orderFinished) Validate() error {
	switch {
	case !isCanonicalUUID(e.UserID) || !isCanonicalUUID(e.OrderID):
		return fmt.Errorf("%w: user_id or order_id is not a lower-case UUID", cloudevent.ErrPoison)
	case e.Status != "completed" && e.Status != "cancelled":
		return fmt.Errorf("%w: status %q is not final", cloudevent.ErrPoison, e.Status)
	}
	return nil
}

// maxReasonRunes bounds the cancel reason quoted in a message.
const maxReasonRunes = 300

// orderNotice is the notification of a finished order.
func orderNotice(eventID string, ev orderFinished, at time.Time) Notification {
	n := Notification{ID: eventID, CreatedAt: at.UTC()}
	if ev.Status == "completed" {
		n.Kind = "order_completed"
		n.Message = fmt.Sprintf("Your order %s is confirmed: %d.%02d charged.", ev.OrderID, ev.TotalCents/100, ev.TotalCents%100)
		return n
	}
	n.Kind = "order_cancelled"
	n.Message = fmt.Sprintf("Your order %s was cancelled: %s. You are not charged for it.", ev.OrderID, truncate(ev.Reason, maxReasonRunes))
	return n
}
