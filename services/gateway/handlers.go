package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/daprshop/daprshop/internal/apperr"
	"github.com/daprshop/daprshop/internal/sidecar"
	"github.com/daprshop/daprshop/internal/web"
)

// invoker forwards requests to other apps through the gateway's sidecar.
type invoker struct {
	base      *url.URL
	token     string
	transport http.RoundTripper
	timeout   time.Duration
}

func newInvoker(sc sidecar.Config, transport http.RoundTripper, timeout time.Duration) (*invoker, error) {
	base, err := url.Parse(sc.HTTPBase())
	if err != nil {
		return nil, fmt.Errorf("sidecar address: %w", err)
	}
	return &invoker{base: base, token: sc.APIToken, transport: transport, timeout: timeout}, nil
}

// errUpstream marks a failure of the sidecar or the target app itself, as
// opposed to an answer of the target app.
var errUpstream = errors.New("upstream failure")

// handle returns a handler that sends the request to appID at the (escaped)
// path that target computes, by HTTP service invocation (the dapr-app-id header on a
// request to the sidecar), and streams the answer back. Headers a client
// sends to steer Dapr (dapr-app-id, dapr-api-token, ...) are dropped.
func (inv *invoker) handle(logger *slog.Logger, appID string, target func(*http.Request) string) http.Handler {
	proxy := &httputil.ReverseProxy{
		Transport: inv.transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = inv.base.Scheme
			pr.Out.URL.Host = inv.base.Host
			// target is an escaped path; keep its escapes (%2F inside an id).
			escaped := target(pr.In)
			pr.Out.URL.RawPath = escaped
			pr.Out.URL.Path, _ = url.PathUnescape(escaped)
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			pr.Out.Host = ""
			for k := range pr.Out.Header {
				if strings.HasPrefix(strings.ToLower(k), "dapr-") {
					pr.Out.Header.Del(k)
				}
			}
			pr.Out.Header.Set("dapr-app-id", appID)
			if inv.token != "" {
				pr.Out.Header.Set(sidecar.TokenHeader, inv.token)
			}
		},
		// An error that is not a problem body comes from daprd (target app
		// down or unknown, token or access control refused), not from the
		// app: answer 503 rather than pass daprd's error on.
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), web.ProblemContentType) {
				return fmt.Errorf("%w: %s answered %d through the sidecar", errUpstream, appID, resp.StatusCode)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var maxErr *http.MaxBytesError
			if errors.As(err, &maxErr) {
				web.Error(w, r, logger, apperr.E(apperr.TooLarge, "the body is larger than the limit of %d bytes", web.MaxBodyBytes))
				return
			}
			web.Error(w, r, logger, apperr.Wrap(apperr.Unavailable, err, "the %s service is unavailable; try again later", appID))
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > web.MaxBodyBytes {
			web.Error(w, r, logger, apperr.E(apperr.TooLarge, "the body is larger than the limit of %d bytes", web.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, web.MaxBodyBytes)
		ctx, cancel := context.WithTimeout(r.Context(), inv.timeout)
		defer cancel()
		proxy.ServeHTTP(w, r.WithContext(ctx))
	})
}
