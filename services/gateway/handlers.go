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
	breakers  *breakers
}

func newInvoker(sc sidecar.Config, transport http.RoundTripper, timeout time.Duration, b *breakers) (*invoker, error) {
	base, err := url.Parse(sc.HTTPBase())
	if err != nil {
		return nil, fmt.Errorf("sidecar address: %w", err)
	}
	return &invoker{base: base, token: sc.APIToken, transport: transport, timeout: timeout, breakers: b}, nil
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
			if resp.StatusCode < 300 {
				return checkSuccess(resp, appID)
			}
			if resp.StatusCode < 400 {
				return nil
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), web.ProblemContentType) {
				return fmt.Errorf("%w: %s answered %d through the sidecar", errUpstream, appID, resp.StatusCode)
			}
			if resp.StatusCode >= 500 { // the app's own problem: passed on, and counted
				setOutcome(resp.Request.Context(), fmt.Errorf("%w: %s answered %d", errUpstream, appID, resp.StatusCode))
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
			if errors.Is(err, context.Canceled) {
				setOutcome(r.Context(), errNotCounted) // the client hung up: not the app's doing
			} else {
				setOutcome(r.Context(), err)
			}
			web.Error(w, r, logger, apperr.Wrap(apperr.Unavailable, err, "the %s service is unavailable; try again later", appID))
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The body is read whole before the app's breaker and the
		// invocation's timeout start: how fast a client sends is not the
		// app's doing.
		if err := bufferBody(w, r); err != nil {
			web.Error(w, r, logger, err)
			return
		}
		done, ok := inv.breakers.allow(appID)
		if !ok {
			inv.breakers.refuse(w, r, appID)
			return
		}
		ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), publicPathKey{}, r.URL.Path), inv.timeout)
		defer cancel()
		ctx, out := withOutcome(ctx)
		proxy.ServeHTTP(w, r.WithContext(ctx))
		done(out.err)
	})
}

// bufferBody reads r's body whole, up to web.MaxBodyBytes, and puts it back
// as a replayable body with a known length (which also lets daprd replay it
// when its resiliency policy retries).
func bufferBody(w http.ResponseWriter, r *http.Request) error {
	tooLarge := apperr.E(apperr.TooLarge, "the body is larger than the limit of %d bytes", web.MaxBodyBytes)
	if r.ContentLength > web.MaxBodyBytes {
		return tooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, web.MaxBodyBytes))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return tooLarge
	case err != nil:
		return apperr.Wrap(apperr.Invalid, err, "the body could not be read")
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return nil
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

// maxCheckedBytes bounds the success body the gateway reads to check it;
// a longer one is passed on unchecked.
const maxCheckedBytes = 1 << 20

// checkSuccess passes on a success only with a whole JSON body (every app
// answers a 2xx other than 204 with one, internal/web.Respond): a 2xx with
// an empty or cut body is a failure on the way, not the app's answer (seen
// once in CI: a 202 without a body under a burst of checkouts, its source
// not found). The client gets a 503 and retries (a checkout with its
// Idempotency-Key), rather than an answer it cannot read.
func checkSuccess(resp *http.Response, appID string) error {
	if resp.StatusCode == http.StatusNoContent || resp.Request.Method == http.MethodHead {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCheckedBytes+1))
	if err != nil {
		resp.Body.Close()
		return fmt.Errorf("%w: %s answered %d, and its body could not be read: %v", errUpstream, appID, resp.StatusCode, err)
	}
	if len(b) > maxCheckedBytes {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
		return nil
	}
	resp.Body.Close()
	if !json.Valid(b) {
		return fmt.Errorf("%w: %s answered %d with a body that is not whole JSON (%d bytes) through the sidecar", errUpstream, appID, resp.StatusCode, len(b))
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return nil
}
