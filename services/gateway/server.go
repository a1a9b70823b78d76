package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/web"
)

// newServer builds the router with its middleware.
func newServer(logger *slog.Logger, inv *invoker, ready func(context.Context) error) http.Handler {
	// Match on the escaped path: decoded, "%2F..%2F" inside an id would be
	// cleaned into another route (and answered with a redirect to it).
	r := mux.NewRouter().UseEncodedPath()
	r.NotFoundHandler = web.NotFound(logger)
	r.MethodNotAllowedHandler = web.MethodNotAllowed(logger)
	r.Use(mux.MiddlewareFunc(web.Recover(logger)))
	addRoutes(r, logger, inv, ready)
	return r
}
