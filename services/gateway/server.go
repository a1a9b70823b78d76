package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/daprshop/daprshop/internal/web"
)

// newServer builds the router with its middleware: the request's span and
// metrics (a client's trace context is only linked: this is the public
// edge), request ids, security headers (storefront.go) and CORS, then
// identity headers a client sends are removed, then routing.
func newServer(logger *slog.Logger, inv *invoker, ready func(context.Context) error, authn func(http.Handler) http.Handler, lim *limiter, origins []string) http.Handler {
	r := web.NewRouter(logger)
	addRoutes(r, logger, inv, ready, authn, lim)
	return web.Instrument(web.RequestID(securityHeaders(cors(origins)(stripIdentity(r)))), web.PublicEndpoint())
}
