package web

import (
	"net/http"
	"regexp"

	"github.com/google/uuid"

	"github.com/daprshop/daprshop/internal/logging"
)

// RequestIDHeader carries a request's id from the client (or the gateway)
// through every service, and back in the response.
const RequestIDHeader = "X-Request-Id"

// validRequestID accepts ids a client may choose: short, and nothing that
// could forge a log line or a header.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// RequestID gives every request an id: the caller's when it is well formed,
// else a new one. It is set on the request (so proxies pass it on), put in
// the context (so every log line shows it) and returned in the response.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID.MatchString(id) {
			id = uuid.NewString()
			r.Header.Set(RequestIDHeader, id)
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(logging.WithRequestID(r.Context(), id)))
	})
}
