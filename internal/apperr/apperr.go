// Package apperr defines the few kinds of failure a use case can report.
// Handlers never pick HTTP status codes themselves: they return an *Error
// and package web maps its Kind to a status in one place.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller can do about it.
type Kind int

// The kinds, each mapped to one HTTP status by package web.
const (
	Internal         Kind = iota // a bug or an unexpected fault: 500
	Invalid                      // the request is malformed or breaks a rule: 400
	Unauthenticated              // missing or bad credentials: 401
	NotFound                     // the thing does not exist (or is not the caller's): 404
	Conflict                     // the state changed under the caller, or a duplicate: 409
	TooLarge                     // the body is over the size limit: 413
	UnsupportedMedia             // the body is not JSON: 415
	Unprocessable                // well-formed, but cannot be processed as asked: 422
	RateLimited                  // too many requests; retry after a while: 429
	Unavailable                  // a dependency is down; retrying later may work: 503
)

// FieldError names one offending field of a request and what is wrong with it.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Error is a failure with a kind, a message safe to show to the client, and
// the underlying cause, which is logged but never sent.
type Error struct {
	Kind   Kind
	Msg    string
	Fields []FieldError
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an *Error of the given kind with a client-safe message.
func E(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap builds an *Error of the given kind that keeps err as its cause.
func Wrap(kind Kind, err error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Err: err}
}

// InvalidFields reports a request whose fields break the rules.
func InvalidFields(fields ...FieldError) *Error {
	msg := "the request has invalid fields"
	if len(fields) == 1 {
		msg = fmt.Sprintf("field %q: %s", fields[0].Field, fields[0].Detail)
	}
	return &Error{Kind: Invalid, Msg: msg, Fields: fields}
}

// KindOf returns the kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err is an *Error of the given kind.
func Is(err error, kind Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == kind
}
