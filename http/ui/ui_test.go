package ui

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// TestHandler: what the dashboard's handler answers, file by file: the
// content type, the CSP and the other headers on every answer, JSON 404s
// for unknown names (no directory listing), 405 for other methods.
func TestHandler(t *testing.T) {
	cases := []struct {
		name, method, path string
		status             int
		contentType        string
		bodyHas            string
		allow              string
	}{
		{name: "page", method: "GET", path: "/ui/", status: 200, contentType: "text/html; charset=utf-8", bodyHas: `<script src="app.js" defer></script>`},
		{name: "page by name", method: "GET", path: "/ui/index.html", status: 200, contentType: "text/html; charset=utf-8", bodyHas: "<title>vigil</title>"},
		{name: "script", method: "GET", path: "/ui/app.js", status: 200, contentType: "text/javascript; charset=utf-8", bodyHas: "new EventSource("},
		{name: "style", method: "GET", path: "/ui/style.css", status: 200, contentType: "text/css; charset=utf-8", bodyHas: ".badge"},
		{name: "icon", method: "GET", path: "/ui/favicon.svg", status: 200, contentType: "image/svg+xml", bodyHas: "<svg"},
		{name: "config", method: "GET", path: "/ui/config.json", status: 200, contentType: "application/json", bodyHas: `{"token_required":true}`},
		{name: "head", method: "HEAD", path: "/ui/app.js", status: 200, contentType: "text/javascript; charset=utf-8"},
		{name: "unknown file", method: "GET", path: "/ui/nope.js", status: 404, contentType: "application/json", bodyHas: `{"error":"no such file: /ui/nope.js"}`},
		{name: "embedded directory is not listed", method: "GET", path: "/ui/static/", status: 404, contentType: "application/json", bodyHas: "no such file"},
		{name: "embedded path is not served", method: "GET", path: "/ui/static/app.js", status: 404, contentType: "application/json", bodyHas: "no such file"},
		{name: "subdirectory", method: "GET", path: "/ui/x/", status: 404, contentType: "application/json", bodyHas: "no such file"},
		{name: "escape attempt", method: "GET", path: "/ui/..%2fui.go", status: 404, contentType: "application/json", bodyHas: "no such file"},
		{name: "outside the prefix", method: "GET", path: "/other", status: 404, contentType: "application/json", bodyHas: "no such file"},
		{name: "post", method: "POST", path: "/ui/", status: 405, contentType: "application/json", bodyHas: "method POST not allowed on /ui/", allow: "GET, HEAD"},
		{name: "put a file", method: "PUT", path: "/ui/app.js", status: 405, contentType: "application/json", allow: "GET, HEAD"},
	}
	h := New(Options{TokenRequired: true})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			hd := rec.Header()
			want := map[string]string{
				"Content-Type":            tc.contentType,
				"Content-Security-Policy": ContentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
				"Allow":                   tc.allow,
			}
			for k, v := range want {
				if got := hd.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(rec.Body.String(), tc.bodyHas) {
				t.Errorf("body does not contain %q:\n%.300s", tc.bodyHas, rec.Body)
			}
			if tc.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD answered a body of %d bytes", rec.Body.Len())
			}
			if tc.status >= 400 {
				var e struct{ Error string }
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Errorf("error body %q is not {\"error\": ...}: %v", rec.Body, err)
				}
			}
		})
	}
}

// TestConfig: config.json tells the page whether hook runs need the token,
// and is never cached.
func TestConfig(t *testing.T) {
	for _, required := range []bool{false, true} {
		rec := httptest.NewRecorder()
		New(Options{TokenRequired: required}).ServeHTTP(rec, httptest.NewRequest("GET", "/ui/config.json", nil))
		var c Config
		if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil || c.TokenRequired != required {
			t.Errorf("TokenRequired %v: config.json %s (%v)", required, rec.Body, err)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("config.json Cache-Control %q, want no-store", cc)
		}
	}
}

// TestRevalidation: files carry an ETag and must be revalidated, and an
// unchanged file is a 304.
func TestRevalidation(t *testing.T) {
	h := New(Options{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/app.js", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q: want an ETag and no-cache", etag, rec.Header().Get("Cache-Control"))
	}
	req := httptest.NewRequest("GET", "/ui/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match %s: status %d, want 304", etag, rec.Code)
	}
}

// TestNothingFromElsewhere: the page loads only its own files (every src
// and href names a file the handler serves), runs no inline script or
// inline style (the CSP would block them and the browser would log an
// error), and none of its files names another site to load from.
func TestNothingFromElsewhere(t *testing.T) {
	h, err := newHandler(static)
	if err != nil {
		t.Fatal(err)
	}
	page := string(h.files["index.html"].body)
	refs := regexp.MustCompile(`\b(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("found %d src/href in index.html: the parsing is broken", len(refs))
	}
	for _, m := range refs {
		if _, ok := h.files[m[1]]; !ok {
			t.Errorf("index.html loads %q, which is not one of the embedded files", m[1])
		}
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>`), // inline script
		regexp.MustCompile(`\son[a-z]+=`),                        // inline event handlers
		regexp.MustCompile(`\sstyle=`),                           // inline styles
		regexp.MustCompile(`<style\b`),                           // style element
		regexp.MustCompile(`javascript:`),                        // script URLs
		regexp.MustCompile(`<(?:form|iframe|object|embed)\b`),
	} {
		if loc := bad.FindString(page); loc != "" {
			t.Errorf("index.html has %q (%s)", loc, bad)
		}
	}
	for _, tag := range regexp.MustCompile(`<script\b[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(tag, ` src="`) {
			t.Errorf("index.html has a script without src: %s", tag)
		}
	}
	// No absolute URL but SVG's namespace name, which nothing loads.
	abs := regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]`)
	for name, f := range h.files {
		text := strings.ReplaceAll(string(f.body), `xmlns="http://www.w3.org/2000/svg"`, "")
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") || strings.HasPrefix(strings.TrimSpace(line), "/*") {
				continue // a comment
			}
			if u := abs.FindString(line); u != "" {
				t.Errorf("%s names another site: %q in %q", name, u, strings.TrimSpace(line))
			}
		}
	}
	css := string(h.files["style.css"].body)
	for _, bad := range []string{"@import", "url("} {
		if strings.Contains(css, bad) {
			t.Errorf("style.css has %s: it would load another file", bad)
		}
	}
	js := string(h.files["app.js"].body)
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js uses %s: the page writes cluster data as text only", bad)
		}
	}
}

// TestNewHandlerRefuses: the embedded directory must be flat, hold only
// files of a known type, and have the page.
func TestNewHandlerRefuses(t *testing.T) {
	cases := []struct {
		name   string
		fsys   fs.FS
		errHas string
	}{
		{name: "directory", fsys: fstest.MapFS{"static/index.html": {}, "static/img/x.svg": {}}, errHas: "is a directory"},
		{name: "unknown type", fsys: fstest.MapFS{"static/index.html": {}, "static/x.wasm": {}}, errHas: `no content type for ".wasm"`},
		{name: "no page", fsys: fstest.MapFS{"static/app.js": {}}, errHas: "index.html is missing"},
		{name: "no directory", fsys: fstest.MapFS{}, errHas: "static"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newHandler(tc.fsys)
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("error %v, want one containing %q", err, tc.errHas)
			}
		})
	}
}
