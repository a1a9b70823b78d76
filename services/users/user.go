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

// User is an account. The password is kept only as a bcrypt hash.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	PasswordHash []byte    `json:"password_hash"`
	CreatedAt    time.Time `json:"created_at"`
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
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

const (
	maxEmailLen      = 254 // RFC 5321 path limit
	maxNameLen       = 100
	minPasswordRunes = 12
	maxPasswordBytes = 72 // bcrypt reads no further: longer would be silently cut
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
	switch {
	case r.Password == "":
		bad = append(bad, apperr.FieldError{Field: "password", Detail: "required"})
	case utf8.RuneCountInString(r.Password) < minPasswordRunes:
		bad = append(bad, apperr.FieldError{Field: "password", Detail: "at least 12 characters"})
	case len(r.Password) > maxPasswordBytes:
		bad = append(bad, apperr.FieldError{Field: "password", Detail: "at most 72 bytes"})
	}
	if len(bad) > 0 {
		return apperr.InvalidFields(bad...)
	}
	return nil
}

// LoginRequest is the body of POST /sessions.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Validate checks that both fields are there; whether they are right is
// the login's business, answered with one message for both.
func (r *LoginRequest) Validate() error {
	var bad []apperr.FieldError
	if strings.TrimSpace(r.Email) == "" || len(r.Email) > maxEmailLen {
		bad = append(bad, apperr.FieldError{Field: "email", Detail: "required, at most 254 characters"})
	}
	if r.Password == "" || len(r.Password) > maxPasswordBytes {
		bad = append(bad, apperr.FieldError{Field: "password", Detail: "required, at most 72 bytes"})
	}
	if len(bad) > 0 {
		return apperr.InvalidFields(bad...)
	}
	return nil
}

// Session is a signed access token and when it expires.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
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
