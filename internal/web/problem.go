package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/daprshop/daprshop/internal/apperr"
)

// ProblemContentType is the media type of RFC 9457 problem details.
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem details body, with the offending fields as
// an extension member.
type Problem struct {
	Type     string              `json:"type"`
	Title    string              `json:"title"`
	Status   int                 `json:"status"`
	Detail   string              `json:"detail,omitempty"`
	Instance string              `json:"instance,omitempty"`
	Errors   []apperr.FieldError `json:"errors,omitempty"`
}

// Status maps an error kind to its HTTP status. This is the only place in
// the project where that decision is made.
func Status(kind apperr.Kind) int {
	switch kind {
	case apperr.Invalid:
		return http.StatusBadRequest
	case apperr.Unauthenticated:
		return http.StatusUnauthorized
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.TooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.UnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case apperr.Unprocessable:
		return http.StatusUnprocessableEntity
	case apperr.RateLimited:
		return http.StatusTooManyRequests
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Error writes err as a problem+json response. Client errors carry their
// message; server errors carry only the status text, and the whole error is
// logged, so that no internal detail leaks to the client.
func Error(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var ae *apperr.Error
	kind := apperr.KindOf(err)
	status := Status(kind)
	p := Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Instance: r.URL.Path}
	if status < 500 {
		if errors.As(err, &ae) {
			p.Detail = ae.Msg
			p.Errors = ae.Fields
		}
		logger.DebugContext(r.Context(), "request refused", "status", status, "error", err.Error())
	} else {
		level := slog.LevelError // a bug of ours
		if kind == apperr.Unavailable {
			level = slog.LevelWarn // a dependency down: retried, and counted by status in metrics
			if errors.As(err, &ae) {
				p.Detail = ae.Msg
			}
		}
		logger.Log(r.Context(), level, "request failed", "status", status, "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	WriteProblem(w, p)
}

// WriteProblem writes p with the problem+json media type.
func WriteProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
