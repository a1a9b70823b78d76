package sidecar

import (
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/daprshop/daprshop/internal/apperr"
)

// Err classifies an error from a sidecar call. Every failure of a sidecar
// or what stands behind it (state store, broker) is a dependency fault the
// client may retry: Unavailable (503). Only a request the sidecar rejects as
// malformed is our bug: Internal (500).
func Err(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.Unimplemented, codes.PermissionDenied, codes.Unauthenticated, codes.FailedPrecondition:
		return apperr.Wrap(apperr.Internal, err, format, args...)
	default:
		return apperr.Wrap(apperr.Unavailable, err, format, args...)
	}
}

// IsETagMismatch reports whether a state write failed because the record
// changed since it was read (optimistic concurrency). A single save reports
// codes.Aborted; a transaction reports codes.Internal and says so only in
// its message, so both are checked.
func IsETagMismatch(err error) bool {
	if err == nil {
		return false
	}
	if status.Code(err) == codes.Aborted {
		return true
	}
	return strings.Contains(strings.ToLower(err.Error()), "etag mismatch")
}
