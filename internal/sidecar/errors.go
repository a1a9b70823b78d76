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
// its message, so both are checked. Some stores report neither, only a
// message of their own inside codes.Internal: state.redis (1.18) "failed to
// set key <key>" or "failed to delete <key>", the SQL stores "no item was
// updated" for a first-write insert over an existing record.
func IsETagMismatch(err error) bool {
	if err == nil {
		return false
	}
	if status.Code(err) == codes.Aborted {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, sign := range etagMismatchSigns {
		if strings.Contains(msg, sign) {
			return true
		}
	}
	return false
}

// etagMismatchSigns are the messages by which state stores report an ETag
// or first-write conflict inside a codes.Internal error.
var etagMismatchSigns = []string{
	"etag mismatch",
	"failed to set key ", // state.redis, set script
	"failed to delete ",  // state.redis, delete script
	// A first-write insert over an existing record, without an ETag, in
	// state.postgresql v1 and v2, sqlserver and oracledatabase.
	"no item was updated",
}
