package http

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// guardCase is one request of the browser-guard tables.
type guardCase struct {
	name   string
	method string
	path   string
	// host, when set, replaces the Host header (127.0.0.1:PORT); PORT in
	// it, in origin and in headers is the server's port.
	host    string
	origin  string
	headers map[string]string
	body    string
	status  int
	errHas  string
	// fired is how many user events, leaves, joins and maintenance calls
	// the agent must have seen after the request.
	fired int
}

// guardServer serves the API with opts on a real 127.0.0.1 listener.
func guardServer(t *testing.T, opts ...Option) (*httptest.Server, *fakeAgent, string) {
	t.Helper()
	f := newFakeAgent()
	ts := httptest.NewServer(New(f, zerolog.Nop(), opts...).Handler())
	t.Cleanup(ts.Close)
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	return ts, f, port
}

// runGuardCase sends tc to ts and checks the answer and the agent's calls.
func runGuardCase(t *testing.T, ts *httptest.Server, f *fakeAgent, port string, tc guardCase) {
	t.Helper()
	sub := func(s string) string { return strings.ReplaceAll(s, "PORT", port) }
	var body io.Reader
	if tc.body != "" {
		body = strings.NewReader(tc.body)
	}
	req, err := http.NewRequest(tc.method, ts.URL+tc.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if tc.host != "" {
		req.Host = sub(tc.host)
	}
	if tc.origin != "" {
		req.Header.Set("Origin", sub(tc.origin))
	}
	for k, v := range tc.headers {
		req.Header.Set(k, sub(v))
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != tc.status {
		t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
	}
	if tc.errHas != "" {
		var e ErrorResponse
		if err := json.Unmarshal(raw, &e); err != nil || !strings.Contains(e.Error, tc.errHas) {
			t.Errorf("body %s: want a JSON error containing %q", raw, tc.errHas)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := len(f.userEvents) + f.leaves + len(f.joins) + len(f.maintenance); got != tc.fired {
		t.Errorf("agent calls: %d (events %v, leaves %d, joins %v, maintenance %v), want %d",
			got, f.userEvents, f.leaves, f.joins, f.maintenance, tc.fired)
	}
}

// TestBrowserGuard: what a web page can make a browser send is refused
// before it reaches the agent (no user event fires, no leave starts), and
// what the vigil commands and same-origin callers send passes.
func TestBrowserGuard(t *testing.T) {
	const event = `{"name":"x"}`
	cases := []guardCase{
		// The attack: curl -X POST -H 'Content-Type: text/plain'
		// -H 'Origin: http://evil.example' -d '{"name":"x"}' /v1/event.
		{name: "cross-site simple POST fires nothing", method: "POST", path: "/v1/event",
			origin: "http://evil.example", headers: map[string]string{"Content-Type": "text/plain"}, body: event,
			status: 403, errHas: `Origin "http://evil.example" is not this agent's own`},
		{name: "cross-site JSON POST", method: "POST", path: "/v1/event",
			origin: "http://evil.example", headers: map[string]string{"Content-Type": "application/json"}, body: event,
			status: 403, errHas: "cross-origin request refused"},
		{name: "opaque origin null", method: "POST", path: "/v1/event",
			origin: "null", headers: map[string]string{"Content-Type": "application/json"}, body: event,
			status: 403, errHas: `Origin "null"`},
		{name: "bodiless leave from another site", method: "POST", path: "/v1/leave",
			origin: "http://evil.example", status: 403, errHas: "cross-origin"},
		{name: "local page on another port", method: "POST", path: "/v1/leave",
			origin: "http://127.0.0.1:1", status: 403, errHas: "cross-origin"},
		{name: "own address, other scheme", method: "POST", path: "/v1/leave",
			origin: "https://127.0.0.1:PORT", status: 403, errHas: "cross-origin"},
		{name: "cross-site read", method: "GET", path: "/v1/members",
			origin: "http://evil.example", status: 403, errHas: "cross-origin"},
		{name: "cross-site event stream", method: "GET", path: "/v1/events/stream",
			origin: "https://evil.example", status: 403, errHas: "cross-origin"},
		{name: "text/plain without Origin", method: "POST", path: "/v1/event",
			headers: map[string]string{"Content-Type": "text/plain"}, body: event,
			status: 415, errHas: `Content-Type "text/plain" refused`},
		{name: "form body (curl -d)", method: "POST", path: "/v1/event",
			headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: event,
			status: 415, errHas: "application/json"},
		{name: "no Content-Type", method: "PUT", path: "/v1/maintenance", body: `{"enable":true}`,
			status: 415, errHas: `Content-Type ""`},
		{name: "multipart", method: "POST", path: "/v1/join",
			headers: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, body: `{"addrs":["10.0.0.1:7946"]}`,
			status: 415, errHas: "multipart/form-data"},
		// DNS rebinding: the page's own name is the Host.
		{name: "rebinding read", method: "GET", path: "/v1/members", host: "evil.example", status: 403,
			errHas: `Host "evil.example" is not this agent's`},
		{name: "rebinding read with port", method: "GET", path: "/v1/self", host: "evil.example:PORT", status: 403, errHas: "DNS rebinding"},
		{name: "rebinding health", method: "GET", path: "/healthz", host: "evil.example:PORT", status: 403, errHas: "Host"},
		{name: "localhost with a dot is a DNS name", method: "GET", path: "/v1/members", host: "localhost.:PORT", status: 403, errHas: "Host"},
		{name: "rebinding POST", method: "POST", path: "/v1/event", host: "evil.example:PORT",
			headers: map[string]string{"Content-Type": "application/json"}, body: event, status: 403, errHas: "Host"},

		// What passes: the vigil commands, curl, same-origin pages.
		{name: "cli event", method: "POST", path: "/v1/event",
			headers: map[string]string{"Content-Type": "application/json"}, body: event, status: 200, fired: 1},
		{name: "json with charset", method: "POST", path: "/v1/event",
			headers: map[string]string{"Content-Type": "Application/JSON; charset=utf-8"}, body: event, status: 200, fired: 1},
		{name: "bodiless leave", method: "POST", path: "/v1/leave", status: 200, fired: 1},
		{name: "same origin", method: "POST", path: "/v1/event", origin: "http://127.0.0.1:PORT",
			headers: map[string]string{"Content-Type": "application/json"}, body: event, status: 200, fired: 1},
		{name: "loopback origin, same port", method: "POST", path: "/v1/event", origin: "http://localhost:PORT",
			headers: map[string]string{"Content-Type": "application/json"}, body: event, status: 200, fired: 1},
		{name: "ipv6 loopback origin", method: "GET", path: "/v1/members", origin: "http://[::1]:PORT", status: 200},
		{name: "host localhost", method: "GET", path: "/v1/members", host: "LocalHost:PORT", status: 200},
		{name: "host ipv6 loopback", method: "GET", path: "/v1/members", host: "[::1]:PORT", status: 200},
		{name: "host other loopback", method: "GET", path: "/v1/members", host: "127.0.0.53", status: 200},
		{name: "get with a body needs no JSON type", method: "GET", path: "/healthz", body: "x", status: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts, f, port := guardServer(t)
			runGuardCase(t, ts, f, port, tc)
		})
	}
}

// TestBrowserGuardAllowedHosts: a name in WithAllowedHosts (the agent's
// http_allowed_hosts) is served as Host and as Origin; others still not.
func TestBrowserGuardAllowedHosts(t *testing.T) {
	cases := []guardCase{
		{name: "allowed name", method: "GET", path: "/v1/members", host: "vigil.internal:PORT", status: 200},
		{name: "allowed name any case", method: "GET", path: "/v1/members", host: "VIGIL.internal", status: 200},
		{name: "allowed address", method: "GET", path: "/v1/members", host: "[fd00::7]:PORT", status: 200},
		{name: "allowed name as origin", method: "POST", path: "/v1/leave", host: "vigil.internal:PORT",
			origin: "http://vigil.internal:PORT", status: 200, fired: 1},
		{name: "other name", method: "GET", path: "/v1/members", host: "vigil.internal.evil.example", status: 403, errHas: "Host"},
		{name: "allowed name, other port as origin", method: "POST", path: "/v1/leave",
			origin: "http://vigil.internal:8080", status: 403, errHas: "cross-origin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts, f, port := guardServer(t, WithAllowedHosts("Vigil.Internal", " ", "[FD00::7]"))
			runGuardCase(t, ts, f, port, tc)
		})
	}
}

// TestBrowserGuardBeforeToken: a foreign Origin is refused even with the
// right token (a page can't know it, but the refusal must not depend on
// that), and a missing token on a same-origin request is still a 401.
func TestBrowserGuardBeforeToken(t *testing.T) {
	cases := []guardCase{
		{name: "foreign origin with token", method: "POST", path: "/v1/event", origin: "http://evil.example",
			headers: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + testToken},
			body:    `{"name":"x"}`, status: 403, errHas: "cross-origin"},
		{name: "no token", method: "POST", path: "/v1/event",
			headers: map[string]string{"Content-Type": "application/json"}, body: `{"name":"x"}`, status: 401, errHas: "missing token"},
		{name: "token", method: "POST", path: "/v1/event",
			headers: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + testToken},
			body:    `{"name":"x"}`, status: 200, fired: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts, f, port := guardServer(t, WithToken(testToken))
			runGuardCase(t, ts, f, port, tc)
		})
	}
}

// TestBrowserGuardNoHost: an HTTP/1.0 request without a Host header is
// refused like a foreign one.
func TestBrowserGuardNoHost(t *testing.T) {
	ts, _, _ := guardServer(t)
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /v1/members HTTP/1.0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || !strings.Contains(string(b), `"error":"Host \"\"`) {
		t.Errorf("no Host: %d %s, want 403 naming the Host", resp.StatusCode, b)
	}
}
