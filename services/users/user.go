package main

import (
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/google/uuid"
)

// User is an account.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// UserRegistered is the event published when a user is created. Consumers
// keep their own copy of this struct; nothing imports it.
type UserRegistered struct {
	UserID       string    `json:"user_id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	RegisteredAt time.Time `json:"registered_at"`
}

// RegisterRequest is the body of POST /users.
type RegisterRequest struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

const (
	maxEmailLen = 254 // RFC 5321 path limit
	maxNameLen  = 100
)

// Validate checks every field and reports all offending ones at once.
func (r *RegisterRequest) Validate() error {
	var bad []apperr.FieldError
	email := strings.TrimSpace(r.Email)
	switch {
	case email == "":
		bad = append(bad, apperr.FieldError{Field: "email", Detail: "required"})
	case len(email) > maxEmailLen:
		bad = append(bad, apperr.FieldError{Field: "email", Detail: "longer than 254 characters"})
	default:
		addr, err := mail.ParseAddress(email)
		if err != nil || addr.Address != email || addr.Name != "" || !strings.Contains(email[strings.LastIndexByte(email, '@'):], ".") {
			bad = append(bad, apperr.FieldError{Field: "email", Detail: "not a valid address like name@example.com"})
		}
	}
	name := strings.TrimSpace(r.Name)
	switch {
	case name == "":
		bad = append(bad, apperr.FieldError{Field: "name", Detail: "required"})
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxNameLen:
		bad = append(bad, apperr.FieldError{Field: "name", Detail: "at most 100 characters of valid UTF-8"})
	case strings.ContainsFunc(name, unicode.IsControl):
		bad = append(bad, apperr.FieldError{Field: "name", Detail: "must not contain control characters"})
	}
	if len(bad) > 0 {
		return apperr.InvalidFields(bad...)
	}
	return nil
}

// isCanonicalUUID accepts ids only in the form they are stored in
// (lower-case, dashed), so that one user has one key: uuid.Validate alone
// also takes upper-case, braces and urn: forms.
func isCanonicalUUID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}

// normalizeEmail lower-cases an address, so that one mailbox is one account.
func normalizeEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}
