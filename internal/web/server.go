package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/apperr"
)

// NewServer returns an http.Server with the timeouts every service uses:
// slow clients cannot hold connections open.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
}

// Serve runs srv until ctx is done, then shuts it down gracefully with a
// fresh deadline (ctx itself is already done by then), letting in-flight
// requests finish. For delay after ctx is done it first goes on accepting
// requests, as a pod's preStop sleep would: the app's sidecar, signalled at
// the same moment, stops delivering events to it in that time, so no
// delivery meets a closed port while the sidecar shuts down (internal/
// launcher stops an app and its sidecar together; docs/chaos.md).
func Serve(ctx context.Context, srv *http.Server, logger *slog.Logger, delay time.Duration) error {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	logger.InfoContext(ctx, "listening", "addr", srv.Addr)
	errCh := make(chan error, 1)
	go func() { errCh <- srv.Serve(ln) }()
	select {
	case err := <-errCh:
		return err
	case <-ctx.Done():
	}
	if delay > 0 {
		logger.InfoContext(context.Background(), "stop signal: serving on while the sidecar stops its subscriptions", "for", delay.String())
		select {
		case err := <-errCh:
			return err
		case <-time.After(delay):
		}
	}
	logger.InfoContext(context.Background(), "shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errCh; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ShutdownDelayVar names the variable that sets Serve's delay: a Go
// duration, 0 when unset (a pod's preStop hook plays its part).
const ShutdownDelayVar = "SHUTDOWN_DELAY"

// ShutdownDelay reads ShutdownDelayVar through getenv; a value that is not
// a duration of 0 or more is refused.
func ShutdownDelay(getenv func(string) string) (time.Duration, error) {
	v := getenv(ShutdownDelayVar)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: want a Go duration of 0 or more such as 2s, got %q", ShutdownDelayVar, v)
	}
	return d, nil
}

// NotFound answers unknown paths with a problem body instead of plain text.
func NotFound(logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, logger, apperr.E(apperr.NotFound, "no route for %s", r.URL.Path))
	})
}

// MethodNotAllowed answers a known path with a wrong method.
func MethodNotAllowed(logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, Problem{Type: "about:blank", Title: http.StatusText(http.StatusMethodNotAllowed), Status: http.StatusMethodNotAllowed, Detail: "method " + r.Method + " is not allowed here", Instance: r.URL.Path})
	})
}

// Recover turns a panic in a handler into a logged 500 problem, so that one
// bad request cannot take its connection down without an answer.
func Recover(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler { //nolint:errorlint // sentinel re-panicked by net/http
						panic(v)
					}
					logger.ErrorContext(r.Context(), "handler panicked", "panic", v, "method", r.Method, "path", r.URL.Path)
					WriteProblem(w, Problem{Type: "about:blank", Title: http.StatusText(http.StatusInternalServerError), Status: http.StatusInternalServerError, Instance: r.URL.Path})
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// NewRouter returns the router every service starts from: problem bodies
// for unknown paths and wrong methods, panics turned into 500s, and the
// request's span and metrics named by the matched route (see Instrument).
func NewRouter(logger *slog.Logger) *mux.Router {
	r := mux.NewRouter()
	r.NotFoundHandler = NotFound(logger)
	r.MethodNotAllowedHandler = MethodNotAllowed(logger)
	r.Use(nameByRoute)
	r.Use(mux.MiddlewareFunc(Recover(logger)))
	return r
}
