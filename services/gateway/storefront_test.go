package main

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStorefrontIsServed(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, &fakeSidecar{status: http.StatusOK})
	tests := []struct {
		path, wantType, wantIn string
		wantStatus             int
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="/static/app.js">`, http.StatusOK},
		{"/static/app.js", "text/javascript; charset=utf-8", "function route()", http.StatusOK},
		{"/static/style.css", "text/css; charset=utf-8", ":root", http.StatusOK},
		{"/static/icon.svg", "image/svg+xml", "<svg", http.StatusOK},
		{"/static/index.html", "application/problem+json", "no route", http.StatusNotFound},
		{"/static/missing.js", "application/problem+json", "no route", http.StatusNotFound},
		{"/static/", "application/problem+json", "no route", http.StatusNotFound},
		{"/static/storefront.go", "application/problem+json", "no route", http.StatusNotFound},
		{"/static/app.js.map", "application/problem+json", "no route", http.StatusNotFound},
		{"/index.html", "application/problem+json", "no route", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			gw.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
			assert.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			assert.Equal(t, tt.wantType, w.Header().Get("Content-Type"))
			assert.Contains(t, w.Body.String(), tt.wantIn)
			assert.Equal(t, storefrontPolicy, w.Header().Get("Content-Security-Policy"), "every answer carries the policy")
			assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
			assert.Equal(t, "DENY", w.Header().Get("X-Frame-Options"))
		})
	}
}

func TestStorefrontAnswersHead(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, &fakeSidecar{status: http.StatusOK})
	for _, p := range []string{"/", "/static/app.js"} {
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, httptest.NewRequest(http.MethodHead, p, nil))
		assert.Equal(t, http.StatusOK, w.Code, p)
		assert.NotEmpty(t, w.Header().Get("Content-Type"), p)
		assert.Empty(t, w.Body.String(), p)
	}
}

// A file is revalidated by its ETag: the same file again is a 304.
func TestStorefrontRevalidates(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, &fakeSidecar{status: http.StatusOK})
	w := httptest.NewRecorder()
	gw.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/static/app.js", nil))
	require.Equal(t, http.StatusOK, w.Code)
	etag := w.Header().Get("ETag")
	require.NotEmpty(t, etag)
	assert.Equal(t, "no-cache", w.Header().Get("Cache-Control"))

	r := httptest.NewRequest(http.MethodGet, "/static/app.js", nil)
	r.Header.Set("If-None-Match", etag)
	w = httptest.NewRecorder()
	gw.ServeHTTP(w, r)
	assert.Equal(t, http.StatusNotModified, w.Code)
	assert.Empty(t, w.Body.String())
}

// The page holds to its own policy: no inline script, style or handler
// (the policy would block them), every file it or a module names is
// embedded, and no module writes markup from strings.
func TestStorefrontHoldsToItsPolicy(t *testing.T) {
	t.Parallel()
	page := string(storefront["index.html"].body)
	assert.NotRegexp(t, `<script(?:\s[^>]*)?>\s*[^<\s]`, page, "no inline script")
	assert.NotRegexp(t, `<style|\sstyle=|\son[a-z]+=`, page, "no inline style or handler")
	refs := regexp.MustCompile(`/static/([a-z0-9-]+\.(?:js|css|svg))`).FindAllStringSubmatch(page, -1)
	require.NotEmpty(t, refs)
	for _, m := range refs {
		assert.Contains(t, storefront, m[1], "index.html names %s", m[1])
	}
	imports := regexp.MustCompile(`from '\./([a-z0-9-]+\.js)'`)
	modules := 0
	for name, a := range storefront {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		modules++
		src := string(a.body)
		for _, m := range imports.FindAllStringSubmatch(src, -1) {
			assert.Contains(t, storefront, m[1], "%s imports %s", name, m[1])
		}
		assert.NotRegexp(t, `innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function`, src, "%s builds the DOM with dom.js's h()", name)
	}
	assert.GreaterOrEqual(t, modules, 5)
}
