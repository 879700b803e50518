// Package ui serves vigil's web dashboard at /ui/ on the agent's HTTP API:
// a page of plain HTML, CSS and JavaScript embedded in the binary (no build
// step, nothing loaded from another site) that reads the API the way any
// client does, from the page's own origin, so the API's browser guard lets
// it through. It shows the members, the services and their instances, this
// agent's checks, recent events live through GET /v1/events/stream, the
// hook runs (with the API token the user types in) and the failover
// guards. See docs/dashboard.md.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the path the dashboard is served under; Handler expects the
// whole request path, prefix included.
const Prefix = "/ui/"

// ContentSecurityPolicy is sent with every response under Prefix: the
// page may load scripts, styles, images and API answers from its own
// origin only, runs no inline script, can't be framed, and has no form
// that could post anywhere.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed static
var static embed.FS

// contentTypes are the types of the files the dashboard is made of, by
// extension. A file of another kind in static/ is a bug that New reports.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// file is one embedded file, ready to serve.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// Options configure the dashboard's handler.
type Options struct {
	// TokenRequired tells the page that GET /v1/hooks needs the API token,
	// so it asks the user for one instead of trying without (a 401 the
	// browser would log as an error). It is no secret: any request
	// without the token finds it out.
	TokenRequired bool
}

// Config is what the page reads from Prefix + "config.json".
type Config struct {
	// TokenRequired is Options.TokenRequired.
	TokenRequired bool `json:"token_required"`
}

// handler serves the embedded files by name, and config.json; there are
// no directories.
type handler struct {
	files  map[string]file
	config []byte
}

// New returns the dashboard's handler: GET and HEAD of Prefix (the page),
// of Prefix + NAME for the page's files and of Prefix + "config.json".
// Anything else under Prefix is a JSON 404 (there is no directory
// listing), another method a JSON 405. Every answer carries
// ContentSecurityPolicy.
func New(opts Options) http.Handler {
	h, err := newHandler(static)
	if err != nil {
		panic(err) // the embedded files are fixed at build time; a test covers them
	}
	h.config, _ = json.Marshal(Config{TokenRequired: opts.TokenRequired})
	h.config = append(h.config, '\n')
	return h
}

// newHandler reads the top-level files of fsys's static directory.
func newHandler(fsys fs.FS) (*handler, error) {
	entries, err := fs.ReadDir(fsys, "static")
	if err != nil {
		return nil, err
	}
	h := &handler{files: map[string]file{}}
	for _, e := range entries {
		if e.IsDir() {
			return nil, fmt.Errorf("ui: static/%s is a directory: the dashboard's files are flat", e.Name())
		}
		ct, ok := contentTypes[path.Ext(e.Name())]
		if !ok {
			return nil, fmt.Errorf("ui: static/%s: no content type for %q", e.Name(), path.Ext(e.Name()))
		}
		body, err := fs.ReadFile(fsys, "static/"+e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		h.files[e.Name()] = file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	if _, ok := h.files["index.html"]; !ok {
		return nil, fmt.Errorf("ui: static/index.html is missing")
	}
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed,
			fmt.Sprintf("method %s not allowed on %s (allowed: GET, HEAD)", r.Method, r.URL.Path))
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		writeError(w, http.StatusNotFound, "no such file: "+r.URL.Path)
		return
	}
	if name == "" {
		name = "index.html"
	}
	if name == "config.json" {
		hd.Set("Content-Type", "application/json")
		hd.Set("Cache-Control", "no-store")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(h.config))
		return
	}
	f, ok := h.files[name]
	if !ok {
		writeError(w, http.StatusNotFound, "no such file: "+r.URL.Path)
		return
	}
	hd.Set("Content-Type", f.contentType)
	hd.Set("ETag", f.etag)
	// Revalidate every time (a 304 when unchanged), so an upgraded agent
	// serves its own page at once.
	hd.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}

// writeError answers status with {"error": msg}, as the rest of the API
// does.
func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
