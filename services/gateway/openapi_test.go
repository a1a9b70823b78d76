package main

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/daprshop/daprshop/internal/sidecar"
)

// The OpenAPI document lists exactly the routes the router serves, methods
// included, in both directions.
func TestOpenAPIMatchesTheRouter(t *testing.T) {
	t.Parallel()
	var spec struct {
		OpenAPI string                               `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(openAPISpec, &spec))
	require.True(t, strings.HasPrefix(spec.OpenAPI, "3."), "an OpenAPI 3 document")
	var inSpec []string
	for path, ops := range spec.Paths {
		for method, op := range ops {
			inSpec = append(inSpec, strings.ToUpper(method)+" "+path)
			assert.NotEmpty(t, op["responses"], "%s %s documents its responses", method, path)
		}
	}

	inv, err := newInvoker(sidecar.Config{Host: "127.0.0.1", HTTPPort: "1"}, http.DefaultTransport, time.Second, newBreakers(discard, breakerSettings{Failures: 5, OpenFor: time.Minute}, upstreamApps...))
	require.NoError(t, err)
	r := mux.NewRouter()
	addRoutes(r, discard, inv, nil, func(h http.Handler) http.Handler { return h }, newLimiter(1, 1, nil))
	var inRouter []string
	require.NoError(t, r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, err := route.GetPathTemplate()
		if err != nil {
			return nil //nolint:nilerr // a route without a path (none here) has nothing to document
		}
		// "{name:<pattern>}" in the router is "{name}" in the document.
		tmpl = routeVar.ReplaceAllString(tmpl, "{$1}")
		methods, err := route.GetMethods()
		require.NoError(t, err, "route %s declares its methods", tmpl)
		for _, m := range methods {
			inRouter = append(inRouter, m+" "+tmpl)
		}
		return nil
	}))
	slices.Sort(inSpec)
	slices.Sort(inRouter)
	assert.Equal(t, inRouter, inSpec)
}

// routeVar is a gorilla/mux path variable with its pattern.
var routeVar = regexp.MustCompile(`\{([a-z]+):[^}]*\}`)

func TestOpenAPIIsServed(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	newGateway(t, &fakeSidecar{status: http.StatusOK}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "application/yaml", w.Header().Get("Content-Type"))
	assert.Equal(t, string(openAPISpec), w.Body.String())
}
