package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/web"
)

// newServer builds the router with its middleware. Identity headers a client
// sends are removed before routing.
func newServer(logger *slog.Logger, inv *invoker, ready func(context.Context) error, authn func(http.Handler) http.Handler, lim *limiter) http.Handler {
	r := mux.NewRouter()
	r.NotFoundHandler = web.NotFound(logger)
	r.MethodNotAllowedHandler = web.MethodNotAllowed(logger)
	r.Use(mux.MiddlewareFunc(web.Recover(logger)))
	addRoutes(r, logger, inv, ready, authn, lim)
	return stripIdentity(r)
}
