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
// updated" for a first-write insert over an existing record, and
// state.mysql in READ COMMITTED a duplicate primary key when two first-write
// inserts of one key race (the loser's existence check does not wait for the
// winner's uncommitted row; its insert then does).
func IsETagMismatch(err error) bool {
	if err == nil {
		return false
	}
	return status.Code(err) == codes.Aborted || says(err, etagMismatchSigns)
}

// says reports whether err's message contains one of signs (lower case).
func says(err error, signs []string) bool {
	msg := strings.ToLower(err.Error())
	for _, sign := range signs {
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
	// Two first-write inserts of one key at once in state.mysql under READ
	// COMMITTED (components/mysql/ says why that level): MySQL's and
	// MariaDB's error 1062 on the primary key.
	"error 1062 (23000): duplicate entry",
}

// IsRolledBack reports whether the store rolled a state write back whole
// because it lost a lock race with another transaction: a deadlock, a lock
// wait that timed out, a serialization failure. Nothing of it applied, so
// the same write on fresh reads may succeed, as after an ETag mismatch; but
// unlike a mismatch it says nothing of the record's version. Stores report
// it inside codes.Internal, in their own words.
func IsRolledBack(err error) bool {
	return err != nil && says(err, rollbackSigns)
}

// LostRace reports whether a state write lost a race with another one and
// applied nothing, its ETag refused (IsETagMismatch) or its transaction
// rolled back to break a lock conflict (IsRolledBack): the same write on
// fresh reads may succeed.
func LostRace(err error) bool {
	return IsETagMismatch(err) || IsRolledBack(err)
}

// rollbackSigns are the messages by which state stores report a
// transaction that the database rolled back to break a lock conflict.
var rollbackSigns = []string{
	"error 1213 (40001)", // MySQL, MariaDB: deadlock found when trying to get lock
	"error 1205 (hy000)", // MySQL, MariaDB: lock wait timeout exceeded
	// MariaDB 10.11 in place of 1213 when the deadlock's victim was inside
	// INSERT ... SELECT (state.mysql's first-write insert): seen here under
	// the same contention that gave 1213s, never otherwise.
	"error 1467 (hy000): failed to read auto-increment value",
	"sqlstate 40001", // PostgreSQL: serialization_failure
	"sqlstate 40p01", // PostgreSQL: deadlock_detected
}
