package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/daprshop/daprshop/internal/apperr"
)

// Status is where an order stands. The checkout saga moves a pending order
// to completed or cancelled, and never back.
type Status string

// The statuses of an order.
const (
	StatusPending   Status = "pending"   // accepted; the checkout saga runs
	StatusCompleted Status = "completed" // stock sold, payment taken
	StatusCancelled Status = "cancelled" // nothing kept: stock released, payment refunded
)

// Step is one step the checkout saga took for an order.
type Step struct {
	Name   string    `json:"name"`   // reserve, charge, confirm, refund, release
	Status string    `json:"status"` // done, failed
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// Limits of one order.
const (
	maxLines    = 50
	maxQuantity = 100
)

// Item is one line of an order, priced by the catalog when it was placed.
type Item struct {
	ProductID  string `json:"product_id"`
	Name       string `json:"name"`
	Quantity   int64  `json:"quantity"`
	PriceCents int64  `json:"price_cents"` // unit price
}

// Order is a user's order. Money is in integer cents.
type Order struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Status     Status    `json:"status"`
	Items      []Item    `json:"items"`
	TotalCents int64     `json:"total_cents"`
	CreatedAt  time.Time `json:"created_at"`
	// Reason says, for the customer, why a cancelled order was cancelled.
	Reason string `json:"reason,omitempty"`
	// Steps are the saga's steps so far, oldest first.
	Steps     []Step     `json:"steps"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// record adds a step unless the order has it already (an activity that ran
// twice records its step once), and reports whether it did.
func (o *Order) record(s Step) bool {
	for _, have := range o.Steps {
		if have.Name == s.Name && have.Status == s.Status {
			return false
		}
	}
	o.Steps = append(o.Steps, s)
	return true
}

// line is one line of a request to place an order.
type line struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// placeOrder is the body of POST /users/{id}/orders.
type placeOrder struct {
	Items []line `json:"items"`
}

var productIDPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// validProductID accepts ids of the catalog's shape: lower-case slugs of at
// most 64 bytes.
func validProductID(id string) bool { return len(id) <= 64 && productIDPattern.MatchString(id) }

// Validate checks the request against the rules of an order, naming every
// offending field.
func (p *placeOrder) Validate() error {
	var bad []apperr.FieldError
	switch {
	case len(p.Items) == 0:
		bad = append(bad, apperr.FieldError{Field: "items", Detail: "must hold at least one line"})
	case len(p.Items) > maxLines:
		bad = append(bad, apperr.FieldError{Field: "items", Detail: fmt.Sprintf("must hold at most %d lines", maxLines)})
	}
	seen := map[string]bool{}
	for i, l := range p.Items {
		switch {
		case l.ProductID == "":
			bad = append(bad, apperr.FieldError{Field: fmt.Sprintf("items[%d].product_id", i), Detail: "is required"})
		case !validProductID(l.ProductID):
			bad = append(bad, apperr.FieldError{Field: fmt.Sprintf("items[%d].product_id", i), Detail: "must be a product id: lower-case letters, digits and single dashes, at most 64 bytes"})
		case seen[l.ProductID]:
			bad = append(bad, apperr.FieldError{Field: fmt.Sprintf("items[%d].product_id", i), Detail: "is listed twice; give one line per product"})
		}
		seen[l.ProductID] = true
		if l.Quantity < 1 || l.Quantity > maxQuantity {
			bad = append(bad, apperr.FieldError{Field: fmt.Sprintf("items[%d].quantity", i), Detail: fmt.Sprintf("must be a whole number from 1 to %d", maxQuantity)})
		}
		if len(bad) >= 10 {
			break // enough to act on; the body may hold 50 bad lines
		}
	}
	if len(bad) > 0 {
		return apperr.InvalidFields(bad...)
	}
	return nil
}

// fingerprint identifies the request's content, whatever its spacing or key
// order: a retry with the same Idempotency-Key must send the same order.
func (p *placeOrder) fingerprint() string {
	b, _ := json.Marshal(p) // a struct of strings and ints always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Idempotency keys are chosen by clients (a UUID is usual).
const maxIdempotencyKeyLen = 255

// validIdempotencyKey accepts 1 to 255 visible ASCII characters.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > maxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// isCanonicalUUID accepts ids only in the form they are stored in
// (lower-case, dashed).
func isCanonicalUUID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}

// indexKey is the key under which a user's order index lists an order:
// keys sort ascending from the newest order to the oldest, so one cursor
// scheme (internal/paging) serves a newest-first list.
func indexKey(o Order) string {
	return fmt.Sprintf("%016x_%s", math.MaxInt64-o.CreatedAt.UnixNano(), o.ID)
}

// orderIDOf returns the order id an index key names.
func orderIDOf(key string) string {
	_, id, _ := strings.Cut(key, "_")
	return id
}
