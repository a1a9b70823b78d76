package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/daprshop/daprshop/internal/web"
)

// newServer builds the router with its middleware.
func newServer(logger *slog.Logger, svc *service, ready func(context.Context) error, appToken string) http.Handler {
	r := web.NewRouter(logger)
	addRoutes(r, logger, svc, ready, appToken)
	return web.Instrument(web.RequestID(r))
}
