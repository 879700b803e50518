package http

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events/failover"
)

// docSection returns the part of a markdown file from the heading start
// to the next heading of the same level.
func docSection(t *testing.T, file, start string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "\n"+start+"\n")
	if i < 0 {
		t.Fatalf("%s has no %q", file, start)
	}
	rest := doc[i+len(start)+2:]
	level := start[:strings.IndexByte(start, ' ')+1]
	if j := strings.Index(rest, "\n"+level); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// docExample is a curl command of the docs followed by the JSON it
// answers.
type docExample struct{ curl, want string }

// curlExamples returns each ```sh block of one curl line that a ```json
// block follows.
func curlExamples(section string) []docExample {
	var out []docExample
	blocks := strings.Split(section, "```")
	// Odd elements are block bodies: "sh\n...\n", "json\n...\n".
	for i := 1; i+2 < len(blocks); i += 2 {
		sh, js := blocks[i], blocks[i+2]
		if !strings.HasPrefix(sh, "sh\n") || !strings.HasPrefix(js, "json\n") || strings.TrimSpace(blocks[i+1]) != "" {
			continue
		}
		line := strings.TrimSpace(strings.TrimPrefix(sh, "sh\n"))
		if strings.Contains(line, "\n") || !strings.HasPrefix(line, "curl ") {
			continue
		}
		out = append(out, docExample{curl: line, want: strings.TrimSpace(strings.TrimPrefix(js, "json\n"))})
	}
	return out
}

// shellWords splits a command line the way sh does for the quoting the
// docs use: single and double quotes, backslash escapes in double quotes.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	in := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				t.Fatalf("unterminated quote in %s", line)
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
				cur.WriteByte(line[i])
			}
			in = true
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// curlRequest builds the request a docs curl line sends, to the server at
// addr instead of the URL's host:port (the Host header stays the URL's
// unless the line sets one).
func curlRequest(t *testing.T, line, addr string) *http.Request {
	t.Helper()
	words := shellWords(t, line)
	method, url, body := "", "", ""
	hasBody := false
	headers := http.Header{}
	for i := 1; i < len(words); i++ {
		switch w := words[i]; w {
		case "-s", "-N":
		case "-X":
			i++
			method = words[i]
		case "-H":
			i++
			k, v, _ := strings.Cut(words[i], ":")
			headers.Add(k, strings.TrimSpace(v))
		case "-d":
			i++
			body, hasBody = words[i], true
		default:
			if strings.HasPrefix(w, "-") {
				t.Fatalf("curl option %s is not understood by this test: %s", w, line)
			}
			url = w
		}
	}
	if method == "" {
		method = "GET"
		if hasBody {
			method = "POST"
		}
	}
	if hasBody && headers.Get("Content-Type") == "" {
		headers.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	var rd io.Reader
	if hasBody {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	req.Header = headers
	if h := headers.Get("Host"); h != "" {
		req.Host = h
	}
	req.URL.Host = addr
	return req
}

// checkExample sends one curl example to addr, after edit (when set)
// adjusts the request, and fails t unless the answer is the docs' JSON.
func checkExample(t *testing.T, ex docExample, addr string, edit func(*http.Request)) {
	t.Helper()
	req := curlRequest(t, ex.curl, addr)
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if got := strings.TrimSpace(string(b)); got != ex.want {
		t.Errorf("%s answers (%s):\n%s\ndocs:\n%s", ex.curl, resp.Status, got, ex.want)
	}
}

// TestDocBrowserAndLimitExamples runs every curl example of http-api.md's
// "Browsers and other sites" and "Limits" sections against a server as
// the agent runs it, and compares the answers with the docs; the raw 503
// of a connection over the cap is compared byte for byte.
func TestDocBrowserAndLimitExamples(t *testing.T) {
	const file = "../docs/http-api.md"
	var examples []docExample
	for _, sec := range []string{"## Browsers and other sites", "## Limits"} {
		examples = append(examples, curlExamples(docSection(t, file, sec))...)
	}
	if len(examples) < 4 {
		t.Fatalf("found %d curl examples; the parsing is broken", len(examples))
	}
	f := newFakeAgent()
	s := New(f, zerolog.Nop(), WithMaxStreams(DefaultMaxStreams))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(LimitListener(ln, DefaultMaxConnections, nil)) }()
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	// Every stream slot taken, as by 64 open vigil monitors.
	s.streams.Store(DefaultMaxStreams)

	for _, ex := range examples {
		t.Run(ex.curl, func(t *testing.T) { checkExample(t, ex, ln.Addr().String(), nil) })
	}
	if len(f.userEvents) != 0 {
		t.Errorf("the examples fired user events: %v", f.userEvents)
	}

	sec := docSection(t, file, "## Limits")
	raw := string(LimitListener(ln, DefaultMaxConnections, nil).(*limitListener).reply)
	if want := strings.ReplaceAll(raw, "\r\n", "\n"); !strings.Contains(sec, "```\n"+want+"```") {
		t.Errorf("the docs' 503 is not the one sent:\n%s", want)
	}
}

// TestDocCurlBodiesAreJSON: every curl example in the docs that sends a
// body outside the browser section says Content-Type: application/json,
// as the API requires; otherwise it would be answered 415.
func TestDocCurlBodiesAreJSON(t *testing.T) {
	files, _ := filepath.Glob("../docs/*.md")
	files = append(files, "../README.md")
	browser := docSection(t, "../docs/http-api.md", "## Browsers and other sites")
	n := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "curl ") || !strings.Contains(line, " -d ") || strings.Contains(browser, line) {
				continue
			}
			n++
			if !strings.Contains(line, "-H 'Content-Type: application/json'") {
				t.Errorf("%s:%d: a curl body without -H 'Content-Type: application/json': %s", file, i+1, line)
			}
		}
	}
	if n < 10 {
		t.Errorf("found only %d curl lines with a body", n)
	}
}

// TestDocKeysExample: the GET /v1/keys example of http-api.md is what the
// API answers for a one-member cluster with the two keys the docs name,
// fingerprints and not keys.
func TestDocKeysExample(t *testing.T) {
	examples := curlExamples(docSection(t, "../docs/http-api.md", "### GET /v1/keys"))
	if len(examples) != 1 {
		t.Fatalf("found %d curl examples under GET /v1/keys, want 1", len(examples))
	}
	const primary, other = "wyTFF5dX1pFGqaMs9b0HrI9DwL013lxfax6uxN8lP9g=", "tLrnAwf6dL33NohQ0e2EM29HSzyPIt6V32SAi2s+C1w="
	ka := &keyAgent{fakeAgent: newFakeAgent(), resp: KeysResponse{NumNodes: 1, NumResponses: 1,
		Keys: map[string]int{primary: 1, other: 1}, PrimaryKeys: map[string]int{primary: 1}}}
	ts := httptest.NewServer(New(ka, zerolog.Nop()).Handler())
	defer ts.Close()
	resp, err := http.DefaultClient.Do(curlRequest(t, examples[0].curl, ts.Listener.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if got := strings.TrimSpace(string(b)); got != examples[0].want {
		t.Errorf("GET /v1/keys answers\n%s\ndocs:\n%s", got, examples[0].want)
	}
	if strings.Contains(string(b), primary) || strings.Contains(string(b), other) {
		t.Errorf("GET /v1/keys shows a key: %s", b)
	}
}

// failoverAgent is a fake agent with a failover under way.
type failoverAgent struct {
	*fakeAgent
	st failover.Status
}

func (f *failoverAgent) FailoverStatus() failover.Status { return f.st }

// TestDocFailoverExamples: the GET /v1/failover and POST
// /v1/failover/release examples of http-api.md are what the API answers.
func TestDocFailoverExamples(t *testing.T) {
	var examples []docExample
	for _, sec := range []string{"## GET /v1/failover", "## POST /v1/failover/release"} {
		examples = append(examples, curlExamples(docSection(t, "../docs/http-api.md", sec))...)
	}
	if len(examples) != 2 {
		t.Fatalf("found %d curl examples, want 2", len(examples))
	}
	fa := &failoverAgent{fakeAgent: newFakeAgent(), st: failover.Status{Damped: map[string]time.Time{}, Quorum: true,
		Pending: []failover.Pending{{Hook: "promote", Key: "db-1@dndu98ypiw82.0:member-failed", State: "running", Runner: "db-2", Fence: 1796579434518}}}}
	ts := httptest.NewServer(New(fa, zerolog.Nop()).Handler())
	defer ts.Close()
	for _, ex := range examples {
		checkExample(t, ex, ts.Listener.Addr().String(), nil)
	}
}

// TestDocAuthExamples runs the curl examples of http-api.md's
// "Authentication and TLS" section against a server with a token, the
// docs' $VIGIL_HTTP_TOKEN and token file standing for it, and compares the
// answers with the docs.
func TestDocAuthExamples(t *testing.T) {
	examples := curlExamples(docSection(t, "../docs/http-api.md", "## Authentication and TLS"))
	if len(examples) < 4 {
		t.Fatalf("found %d curl examples; the parsing is broken", len(examples))
	}
	f := newFakeAgent()
	ts := httptest.NewServer(New(f, zerolog.Nop(), WithToken(testToken)).Handler())
	t.Cleanup(ts.Close)
	for _, ex := range examples {
		t.Run(ex.curl, func(t *testing.T) {
			checkExample(t, ex, strings.TrimPrefix(ts.URL, "http://"), func(req *http.Request) {
				if h := req.Header.Get("Authorization"); h != "" {
					h = strings.ReplaceAll(h, "$VIGIL_HTTP_TOKEN", testToken)
					h = strings.ReplaceAll(h, "$(cat /run/vigil/http-token-7947)", testToken)
					req.Header.Set("Authorization", h)
				}
			})
		})
	}
	if len(f.userEvents) != 2 {
		t.Errorf("%d user events fired, want 2 (the examples with the token)", len(f.userEvents))
	}
}
