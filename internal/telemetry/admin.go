package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves what operators read and users must not: Prometheus
// metrics at /metrics (from gatherer, with the Go runtime and process
// collectors of the default registry) and Go's profiles under
// /debug/pprof/.
func AdminHandler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		// A metric that fails to gather is left out and logged by the
		// scrape's error count, rather than failing the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// StartAdmin listens on addr at once (so a taken port fails the app's
// start, not a later scrape) and serves AdminHandler of the default
// registry until ctx is done or stop is called. An empty addr starts
// nothing.
//
// The admin listener is separate from the app's: the gateway's public
// port never serves profiles, and a profile that runs for 30 s is not
// cut by the app server's write timeout.
func StartAdmin(ctx context.Context, addr string, logger *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	srv := &http.Server{
		Handler:           AdminHandler(prometheus.DefaultGatherer),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: /debug/pprof/profile?seconds=30 writes after 30 s.
	}
	logger.InfoContext(ctx, "admin listening (metrics, pprof)", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.ErrorContext(ctx, "admin listener failed", "error", err.Error())
		}
	}()
	stopCtx, cancel := context.WithCancel(ctx)
	go func() {
		<-stopCtx.Done()
		shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = srv.Shutdown(shutdownCtx)
	}()
	return cancel, nil
}

// AdminAddr reads where the admin listener goes: ADMIN_PORT (none: no
// admin listener) on ADMIN_HOST (loopback when unset: profiles and
// metrics are for the machine's operator; in a pod, set it to every
// interface so Prometheus can scrape).
func AdminAddr(getenv func(string) string) string {
	port := getenv("ADMIN_PORT")
	if port == "" {
		return ""
	}
	host := getenv("ADMIN_HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
