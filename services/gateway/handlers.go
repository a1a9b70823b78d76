package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
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
			// A client's trace context stays at the edge (the gateway's span
			// links to it); the transport sends the gateway's own.
			for _, k := range []string{"Traceparent", "Tracestate", "Baggage"} {
				pr.Out.Header.Del(k)
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
			if resp.StatusCode < 400 {
				return nil
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), web.ProblemContentType) {
				return fmt.Errorf("%w: %s answered %d through the sidecar", errUpstream, appID, resp.StatusCode)
			}
			return publicInstance(resp)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// r is the outgoing request: the problem names the path the
			// client asked for, never the service's internal one.
			if p, ok := r.Context().Value(publicPathKey{}).(string); ok {
				r = r.Clone(r.Context())
				r.URL.Path, r.URL.RawPath = p, ""
			}
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
		ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), publicPathKey{}, r.URL.Path), inv.timeout)
		defer cancel()
		proxy.ServeHTTP(w, r.WithContext(ctx))
	})
}

// publicPathKey holds, in a proxied request's context, the path the client
// asked for.
type publicPathKey struct{}

// maxProblemBytes bounds the problem body the gateway reads to rewrite it.
const maxProblemBytes = 64 << 10

// publicInstance sets a problem's instance to the path the client asked
// for: the service's own path (/users/{id}/orders/...) is an internal
// detail the client must not see or depend on.
func publicInstance(resp *http.Response) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxProblemBytes+1))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("%w: read problem: %v", errUpstream, err)
	}
	var p web.Problem
	if len(b) > maxProblemBytes || json.Unmarshal(b, &p) != nil || p.Status != resp.StatusCode {
		return fmt.Errorf("%w: an unreadable problem body with status %d", errUpstream, resp.StatusCode)
	}
	p.Instance, _ = resp.Request.Context().Value(publicPathKey{}).(string)
	b, err = json.Marshal(p)
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return nil
}
