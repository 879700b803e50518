package http

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/probes"
)

// fuzzRoutes are the endpoints that decode a JSON request body.
var fuzzRoutes = []struct{ method, path string }{
	{http.MethodPost, "/v1/join"},
	{http.MethodPost, "/v1/event"},
	{http.MethodPut, "/v1/maintenance"},
	{http.MethodPut, "/v1/checks/x/pass"},
}

// FuzzHTTPDecoders sends arbitrary bodies through the real handler (with
// its logging, panic recovery and routing) to every endpoint that decodes
// one. Every answer must be a 2xx or a 4xx with a JSON body, and every
// 4xx exactly {"error": "..."}: never a 5xx (a panic answers 500), never
// a non-JSON body. What a 2xx accepted must have reached the agent intact.
func FuzzHTTPDecoders(f *testing.F) {
	for _, seed := range []struct {
		route uint8
		body  string
	}{
		{0, `{"addrs":["10.0.0.5:7946"]}`},
		{0, `{"addrs":[]}`},
		{0, `{"addrs":["[::1]:7946","host:0"]}`},
		{0, `{"addrs":null}`},
		{1, `{"name":"deploy","payload":"v1.2"}`},
		{1, `{"name":"x"} {"name":"y"}`},
		{1, `{"name":"d\u00e9ploiement-\ud83d\ude80"}`},
		{1, "{\"name\":\"\xff\xfe\"}"},
		{1, `{"name":"\ud800"}`},
		{1, `{"name":1}`},
		{1, `{"nmae":"x"}`},
		{1, strings.Repeat("[", 10001)},
		{1, `{"name":"x","payload":"` + strings.Repeat("a", 300) + `"}`},
		{2, `{"enable":true,"reason":"upgrade"}`},
		{2, `{"enable":false}`},
		{2, `{"enable":"yes"}`},
		{2, `{}`},
		{2, `null`},
		{3, ``},
		{3, `{"note":"all good"}`},
		{3, `   `},
		{3, `{"note":null}`},
		{3, `"note"`},
	} {
		f.Add(seed.route, []byte(seed.body))
	}
	fa := newFakeAgent()
	fa.checks = []probes.State{{ID: "x", Kind: "ttl", Status: probes.Passing}}
	h := New(fa, zerolog.Nop()).Handler()
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		fa.mu.Lock()
		fa.joins, fa.userEvents, fa.maintenance, fa.ttl = nil, nil, nil, nil
		fa.mu.Unlock()

		req := localRequest(rt.method, rt.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		code := rec.Code
		if !(code >= 200 && code < 300) && !(code >= 400 && code < 500) {
			t.Fatalf("%s %s %q: status %d, want 2xx or 4xx; body %s", rt.method, rt.path, body, code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s %q: Content-Type %q", rt.method, rt.path, body, ct)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s %q: answer is not JSON: %q", rt.method, rt.path, body, rec.Body)
		}
		if code >= 400 {
			var e map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || len(e) != 1 {
				t.Fatalf("%s %s %q: %d answer %q is not {\"error\": ...}", rt.method, rt.path, body, code, rec.Body)
			}
			if msg, ok := e["error"].(string); !ok || msg == "" {
				t.Fatalf("%s %s %q: %d answer %q has no error message", rt.method, rt.path, body, code, rec.Body)
			}
			if !utf8.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s %q: error answer is not UTF-8: %q", rt.method, rt.path, body, rec.Body)
			}
			return
		}
		// Accepted: the body was valid UTF-8 JSON, and the agent got
		// exactly what it said.
		if !utf8.Valid(body) {
			t.Fatalf("%s %s %q: accepted a body that is not UTF-8", rt.method, rt.path, body)
		}
		fa.mu.Lock()
		defer fa.mu.Unlock()
		switch rt.path {
		case "/v1/join":
			var want JoinRequest
			if err := json.Unmarshal(body, &want); err != nil || len(fa.joins) != 1 || strings.Join(fa.joins[0], "\n") != strings.Join(want.Addrs, "\n") {
				t.Fatalf("join %q: agent got %q", body, fa.joins)
			}
		case "/v1/event":
			var want EventRequest
			if err := json.Unmarshal(body, &want); err != nil || len(fa.userEvents) != 1 ||
				fa.userEvents[0].Name != want.Name || fa.userEvents[0].Payload != want.Payload || want.Name == "" {
				t.Fatalf("event %q: agent got %+v", body, fa.userEvents)
			}
		case "/v1/maintenance":
			if len(fa.maintenance) != 1 {
				t.Fatalf("maintenance %q: agent got %q", body, fa.maintenance)
			}
		default:
			if len(fa.ttl) != 1 || !strings.HasPrefix(fa.ttl[0], "x passing ") {
				t.Fatalf("ttl %q: agent got %q", body, fa.ttl)
			}
		}
	})
}
