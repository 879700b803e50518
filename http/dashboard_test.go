package http

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/http/ui"
)

// TestRTTAPI: GET /v1/rtt lists the members with a known coordinate, by
// name, in milliseconds; none known is [].
func TestRTTAPI(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "known ones", setup: func(f *fakeAgent) {
			f.rtt = map[string]time.Duration{"charlie": 1500 * time.Microsecond, "alpha": 12 * time.Microsecond, "zulu": time.Second}
		}, method: "GET", path: "/v1/rtt", status: 200,
			want: `[{"node":"alpha","rtt_ms":0.012},{"node":"charlie","rtt_ms":1.5}]`},
		{name: "none known", method: "GET", path: "/v1/rtt", status: 200, want: `[]`},
		{name: "read only", method: "POST", path: "/v1/rtt", status: 405, allow: "GET", errHas: "POST"},
	})
}

// TestDashboardRoute: the dashboard is served under /ui/ through the
// browser guard: the page's own requests (same origin, or no Origin) pass,
// another site's and a rebound Host are refused, and without the token it
// is readable while /v1/hooks stays closed.
func TestDashboardRoute(t *testing.T) {
	cases := []guardCase{
		{name: "page", method: "GET", path: "/ui/", status: 200},
		{name: "page, same origin", method: "GET", path: "/ui/app.js", origin: "http://127.0.0.1:PORT", status: 200},
		{name: "page, localhost origin", method: "GET", path: "/ui/style.css", host: "localhost:PORT", origin: "http://localhost:PORT", status: 200},
		{name: "the page's API read, same origin", method: "GET", path: "/v1/members", origin: "http://127.0.0.1:PORT", status: 200},
		{name: "the page's event stream, same origin", method: "GET", path: "/v1/events/stream?since=18446744073709551615",
			origin: "http://127.0.0.1:PORT", status: 429, errHas: "too many event streams"},
		{name: "page from another site", method: "GET", path: "/ui/", origin: "http://evil.example", status: 403, errHas: "cross-origin"},
		{name: "page on another port", method: "GET", path: "/ui/app.js", origin: "http://127.0.0.1:1", status: 403, errHas: "cross-origin"},
		{name: "page on a rebound name", method: "GET", path: "/ui/", host: "evil.example:PORT", status: 403, errHas: "DNS rebinding"},
		{name: "hooks without the token", method: "GET", path: "/v1/hooks", origin: "http://127.0.0.1:PORT", status: 401, errHas: "missing token"},
		{name: "hooks with the token", method: "GET", path: "/v1/hooks", origin: "http://127.0.0.1:PORT",
			headers: map[string]string{"Authorization": "Bearer " + testToken}, status: 200},
		{name: "no write through the page's path", method: "POST", path: "/ui/", origin: "http://127.0.0.1:PORT",
			headers: map[string]string{"Authorization": "Bearer " + testToken}, status: 405},
		{name: "unknown file", method: "GET", path: "/ui/nope", status: 404, errHas: "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts, f, port := guardServer(t, WithToken(testToken), WithMaxStreams(1))
			if strings.HasPrefix(tc.path, "/v1/events/stream") {
				// Hold the one stream the cap allows, so the page's
				// request is answered (429) instead of streaming: what
				// matters is that the guard let it through.
				resp, err := ts.Client().Get(ts.URL + "/v1/events/stream")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { resp.Body.Close() })
			}
			runGuardCase(t, ts, f, port, tc)
		})
	}
}

// TestDashboardRedirect: /ui (no slash) leads to /ui/, and the page knows
// whether the API needs a token.
func TestDashboardRedirect(t *testing.T) {
	ts, _, _ := guardServer(t)
	client := *ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(ts.URL + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("/ui: %d Location %q, want a redirect to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}

	for _, tc := range []struct {
		opts []Option
		want string
	}{
		{nil, `{"token_required":false}`},
		{[]Option{WithToken(testToken)}, `{"token_required":true}`},
	} {
		ts, _, _ := guardServer(t, tc.opts...)
		resp, err := ts.Client().Get(ts.URL + ui.Prefix + "config.json")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(string(b)) != tc.want {
			t.Errorf("config.json %s, want %s", b, tc.want)
		}
	}
}

// TestDocDashboardExamples runs the curl examples of http-api.md's GET
// /v1/rtt and GET /ui/ sections against a server with a token, whose
// agent knows the members' round trips the example shows.
func TestDocDashboardExamples(t *testing.T) {
	const file = "../docs/http-api.md"
	var examples []docExample
	for _, sec := range []string{"## GET /v1/rtt", "## GET /ui/"} {
		examples = append(examples, curlExamples(docSection(t, file, sec))...)
	}
	if len(examples) != 3 {
		t.Fatalf("found %d curl examples, want 3", len(examples))
	}
	f := newFakeAgent()
	f.members = []events.Member{{Name: "one"}, {Name: "three"}, {Name: "two"}, {Name: "four"}}
	f.rtt = map[string]time.Duration{"one": 4 * time.Microsecond, "two": 305 * time.Microsecond, "three": 291 * time.Microsecond}
	ts := httptest.NewServer(New(f, zerolog.Nop(), WithToken(testToken)).Handler())
	t.Cleanup(ts.Close)
	for _, ex := range examples {
		checkExample(t, ex, ts.Listener.Addr().String(), nil)
	}
}
