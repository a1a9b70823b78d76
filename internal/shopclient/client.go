// Package shopclient is the one Go client of the shop that the end-to-end
// tests and the benchmark share: the public API through the gateway
// (Client), the services' internal read routes that only an auditor calls
// (Apps), and the invariant checker that holds a run's outcomes against
// what the stores say afterwards (Audit).
//
// It answers with errors, never with assertions: a test wraps a call in
// require.NoError, the benchmark counts it. An answer other than the one
// the operation documents is a *StatusError carrying the status and the
// body (a problem+json for the shop's own refusals).
package shopclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client calls the shop's public API at Base (the gateway).
type Client struct {
	Base string
	HTTP *http.Client
}

// New returns a client of the gateway at base. A nil hc gets a client
// with a 30 s timeout and a connection pool sized for load.
func New(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}
	}
	return &Client{Base: strings.TrimSuffix(base, "/"), HTTP: hc}
}

// Request is one call: Body is marshalled as JSON unless it is an
// io.Reader or a string, which are sent as they are (with ContentType,
// application/json by default).
type Request struct {
	Method, Path string
	Token        string // a bearer token, if any
	Body         any
	ContentType  string
	Header       map[string]string
}

// Response is an answer as it came.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// StatusError is an answer other than the one the operation documents.
type StatusError struct {
	Op     string
	Status int
	Body   []byte
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.Op, e.Status, bytes.TrimSpace(e.Body))
}

// Do sends r and reads the whole answer, whatever its status.
func (c *Client) Do(ctx context.Context, r Request) (Response, error) {
	return send(ctx, c.HTTP, c.Base+r.Path, r)
}

// call sends r, expects status want and decodes the body into out (if
// not nil).
func (c *Client) call(ctx context.Context, op string, r Request, want int, out any) error {
	resp, err := c.Do(ctx, r)
	return decode(op, resp, err, want, out)
}

func send(ctx context.Context, hc *http.Client, url string, r Request) (Response, error) {
	var body io.Reader
	contentType := r.ContentType
	switch b := r.Body.(type) {
	case nil:
	case io.Reader:
		body = b
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return Response{}, fmt.Errorf("encode the request: %w", err)
		}
		body = bytes.NewReader(raw)
	}
	if body != nil && contentType == "" {
		contentType = "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, url, body)
	if err != nil {
		return Response{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

func decode(op string, resp Response, err error, want int, out any) error {
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if resp.Status != want {
		return &StatusError{Op: op, Status: resp.Status, Body: resp.Body}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return fmt.Errorf("%s: decode the answer: %w", op, err)
	}
	return nil
}
