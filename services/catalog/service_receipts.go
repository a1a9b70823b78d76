package main

import (
	"context"
	"fmt"
	"regexp"

	"github.com/daprshop/daprshop/internal/apperr"
)

// Receipt is goods received into the warehouse: units of one product,
// named by the sender's id (a delivery note's number), so that a receipt
// sent twice is counted once.
type Receipt struct {
	ID    string `json:"id"`
	Units int64  `json:"units"`
}

// maxReceiptUnits bounds one receipt: a typo of a few digits more is
// refused rather than stocked.
const maxReceiptUnits = 1_000_000

// receiptIDPattern is a receipt id: letters, digits, '-' and '_', at most
// 64 bytes (a UUID, a delivery note's number).
var receiptIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate names every offending field.
func (r Receipt) Validate() error {
	var fields []apperr.FieldError
	if !receiptIDPattern.MatchString(r.ID) {
		fields = append(fields, apperr.FieldError{Field: "receipt", Detail: "must be 1 to 64 letters, digits, '-' or '_'"})
	}
	if r.Units < 1 || r.Units > maxReceiptUnits {
		fields = append(fields, apperr.FieldError{Field: "units", Detail: fmt.Sprintf("must be a whole number from 1 to %d", maxReceiptUnits)})
	}
	if len(fields) > 0 {
		return apperr.InvalidFields(fields...)
	}
	return nil
}

// Receive adds a goods receipt's units to a product's available stock,
// once per receipt id, and returns the product as it now is.
func (s *service) Receive(ctx context.Context, productID string, r Receipt) (Product, error) {
	if err := checkID(productID); err != nil {
		return Product{}, err
	}
	if err := r.Validate(); err != nil {
		return Product{}, err
	}
	if err := s.requireSeeded(); err != nil {
		return Product{}, err
	}
	p, err := s.store.Receive(ctx, productID, r)
	if err != nil {
		return Product{}, fmt.Errorf("receive %d units of %s (receipt %s): %w", r.Units, productID, r.ID, err)
	}
	return p, nil
}
