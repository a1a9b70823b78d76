package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/gorilla/mux"

	"github.com/daprshop/daprshop/internal/web"
)

// The storefront: a page and its ES modules, CSS and icon, embedded in the
// binary and served at the same origin as the API (so no CORS), with no
// build step. storefront/app.js says how the page is organised.
//
//go:embed storefront
var storefrontFiles embed.FS

// storefront is the embedded files, read once; a file the build embedded
// but that cannot be served is a programming error, as with template.Must.
var storefront = mustLoadStorefront()

func mustLoadStorefront() map[string]asset {
	a, err := loadStorefront()
	if err != nil {
		panic(err)
	}
	return a
}

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// loadStorefront reads every embedded file once.
func loadStorefront() (map[string]asset, error) {
	out := map[string]asset{}
	err := fs.WalkDir(storefrontFiles, "storefront", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := storefrontFiles.ReadFile(p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			return fmt.Errorf("storefront: no media type for %s", p)
		}
		sum := sha256.Sum256(b)
		out[path.Base(p)] = asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return out, err
}

// storefrontPolicy lets the page run its own scripts and styles and call
// its own origin, nothing else: no inline script or style, no framing.
const storefrontPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders are on every answer of the gateway: the storefront's
// policy, and no sniffing, referrer or framing.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", storefrontPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// addStorefront serves the page at / and its files at /static/{file}; a
// name that is not one of them is a 404 problem. Files are revalidated
// (ETag) on every load, so a new gateway's page is never mixed with an
// old one's scripts.
func addStorefront(r *mux.Router, logger *slog.Logger, assets map[string]asset) {
	notFound := web.NotFound(logger)
	serve := func(w http.ResponseWriter, req *http.Request, name string) {
		a, ok := assets[name]
		if !ok || name == "index.html" && req.URL.Path != "/" {
			notFound.ServeHTTP(w, req)
			return
		}
		w.Header().Set("Content-Type", a.contentType)
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", a.etag)
		http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(a.body))
	}
	r.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) { serve(w, req, "index.html") }).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/static/{file:[a-z0-9-]+\\.(?:js|css|svg)}", func(w http.ResponseWriter, req *http.Request) {
		serve(w, req, mux.Vars(req)["file"])
	}).Methods(http.MethodGet, http.MethodHead)
}
