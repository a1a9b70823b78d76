package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
)

// Reservation holds stock for an order between the try and the confirm or
// cancel of the checkout saga (TCC). While it is reserved its units count as
// Reserved in each product's Stock; confirming moves them to Sold,
// cancelling or expiring moves them back to Available. A reservation holds
// stock until ExpiresAt at the latest, so that a saga that dies half-way
// does not keep units from other customers for ever.
type Reservation struct {
	OrderID   string            `json:"order_id"`
	Status    ReservationStatus `json:"status"`
	Items     []Line            `json:"items"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// ReservationStatus is where a reservation is in its life: reserved, then
// exactly one of confirmed, cancelled or expired.
type ReservationStatus string

// The statuses of a reservation.
const (
	StatusReserved  ReservationStatus = "reserved"  // holds its units
	StatusConfirmed ReservationStatus = "confirmed" // its units are sold
	StatusCancelled ReservationStatus = "cancelled" // released by the saga's cancel
	StatusExpired   ReservationStatus = "expired"   // released because it outlived its TTL
)

// Line is one product of a reservation and how many units it holds.
type Line struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// Held reports whether r still holds its units.
func (r Reservation) Held() bool { return r.Status == StatusReserved }

// Due reports whether r holds units past its expiry at now: it may no
// longer be confirmed, and is to be released.
func (r Reservation) Due(now time.Time) bool { return r.Held() && !now.Before(r.ExpiresAt) }

// ProductIDs returns the ids of r's products, in line order.
func (r Reservation) ProductIDs() []string { return productIDs(r.Items) }

func productIDs(lines []Line) []string {
	ids := make([]string, len(lines))
	for i, l := range lines {
		ids[i] = l.ProductID
	}
	return ids
}

// sameLines reports whether a and b reserve the same units, whatever the
// order of their lines.
func sameLines(a, b []Line) bool {
	byID := func(x, y Line) int { return strings.Compare(x.ProductID, y.ProductID) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, byID)
	slices.SortFunc(b, byID)
	return slices.Equal(a, b)
}

// The bounds of a reservation: enough for any basket, small enough that one
// reservation is one modest state transaction.
const (
	maxLines    = 50
	maxQuantity = 100
)

// validateLines checks the lines of a reservation: 1 to maxLines of them,
// each a valid product id (none twice) and 1 to maxQuantity units. Every
// offending field is named.
func validateLines(lines []Line) error {
	if len(lines) == 0 || len(lines) > maxLines {
		return apperr.InvalidFields(apperr.FieldError{Field: "items", Detail: fmt.Sprintf("must hold 1 to %d lines", maxLines)})
	}
	var fields []apperr.FieldError
	seen := make(map[string]bool, len(lines))
	for i, l := range lines {
		switch {
		case !validID(l.ProductID):
			fields = append(fields, apperr.FieldError{Field: fmt.Sprintf("items[%d].product_id", i), Detail: fmt.Sprintf("must be a lower-case slug such as espresso-beans-1kg, at most %d bytes", maxIDLen)})
		case seen[l.ProductID]:
			fields = append(fields, apperr.FieldError{Field: fmt.Sprintf("items[%d].product_id", i), Detail: "appears on another line; put all its units on one"})
		}
		seen[l.ProductID] = true
		if l.Quantity < 1 || l.Quantity > maxQuantity {
			fields = append(fields, apperr.FieldError{Field: fmt.Sprintf("items[%d].quantity", i), Detail: fmt.Sprintf("must be 1 to %d", maxQuantity)})
		}
	}
	if len(fields) > 0 {
		return apperr.InvalidFields(fields...)
	}
	return nil
}

var orderIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// validOrderID accepts order ids in their one form, a canonical lower-case
// UUID, so that one order can never have two reservations under two
// spellings of its id.
func validOrderID(id string) bool { return orderIDPattern.MatchString(id) }

func checkOrderID(id string) error {
	if !validOrderID(id) {
		return apperr.InvalidFields(apperr.FieldError{Field: "order", Detail: "must be a lower-case UUID such as 4f1d7c9e-8a51-4b8e-9d0c-2f6b1e3a5c7d"})
	}
	return nil
}
