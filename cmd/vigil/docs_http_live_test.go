package main

import (
	"cmp"
	"encoding/json"
	"io"
	nethttp "net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// docCurl is one curl example of docs/http-api.md with the answer shown
// under it.
type docCurl struct {
	page   string // the file it is in
	line   string
	method string
	url    string // the path and query, after 127.0.0.1:7947
	header nethttp.Header
	body   string
	answer string // the block after the command ("" when none)
}

// docCurls reads every curl command to the agent's API (127.0.0.1:7947)
// of the sh blocks of README.md and docs/*.md, and the answer block that
// follows each.
func docCurls(t *testing.T) []docCurl {
	t.Helper()
	files, _ := filepath.Glob("../../docs/*.md")
	files = append([]string{"../../README.md"}, files...)
	var out []docCurl
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fileCurls(t, filepath.Base(f), string(b))...)
	}
	return out
}

// fileCurls reads the curl commands of one page.
func fileCurls(t *testing.T, name, page string) []docCurl {
	t.Helper()
	var out []docCurl
	blocks := strings.Split(page, "```")
	// blocks alternate: prose, fenced, prose, fenced...
	for i := 1; i < len(blocks); i += 2 {
		lang, text, _ := strings.Cut(blocks[i], "\n")
		if lang != "sh" {
			continue
		}
		answer := ""
		if i+2 < len(blocks) && strings.TrimSpace(blocks[i+1]) == "" {
			_, answer, _ = strings.Cut(blocks[i+2], "\n")
		}
		for _, line := range strings.Split(text, "\n") {
			if !strings.HasPrefix(line, "curl ") {
				continue
			}
			words, ok := shellSplit(strings.ReplaceAll(line, "$(cat /run/vigil/http-token-7947)", "$VIGIL_HTTP_TOKEN"))
			if !ok {
				t.Fatalf("%s: cannot split %q", name, line)
			}
			c := docCurl{page: name, line: line, method: "GET", header: nethttp.Header{}, answer: answer}
			for j := 1; j < len(words); j++ {
				switch w := words[j]; {
				case w == "-X" && j+1 < len(words):
					j++
					c.method = words[j]
				case w == "-H" && j+1 < len(words):
					j++
					k, v, _ := strings.Cut(words[j], ":")
					c.header.Add(k, strings.TrimSpace(v))
				case w == "-d" && j+1 < len(words):
					j++
					c.body = words[j]
					if c.method == "GET" {
						c.method = "POST"
					}
				case strings.HasPrefix(strings.TrimPrefix(w, "http://"), "127.0.0.1:7947/"):
					c.url = strings.TrimPrefix(strings.TrimPrefix(w, "http://"), "127.0.0.1:7947")
				}
			}
			out = append(out, c)
		}
	}
	return out
}

// TestDocHTTPExamplesLive runs the curl examples of the agent's API in
// README.md and docs/*.md (http-api.md's above all) against a real agent (a service, a TTL check, gossip encryption and an
// API token, as the examples assume) and checks each answer as the page
// shows it: an example shown answering {"error": ...} must get a 4xx with
// a JSON error, every other one a 2xx, and a JSON answer shown must come
// back as JSON of the same kind (object or list) with the same top-level
// fields. Left out, and why: streams (-N, and the stream itself, which
// does not end), TLS on another host, a join or a leave (they would
// change the cluster under the other examples), a force-leave of a member
// this cluster does not have, and the metrics line piped to grep (its
// endpoint is run without the pipe).
func TestDocHTTPExamplesLive(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	const token = "doc-token-0123456789abcdef"
	cfg := clustertest.WriteConfig(t, `
encrypt: wyTFF5dX1pFGqaMs9b0HrI9DwL013lxfax6uxN8lP9g=
http_token: `+token+`
service: {name: web, port: 8080, tags: {version: "1.4"}}
checks:
  - {id: heartbeat, ttl: 30s, initial_status: passing}
  - {id: batch-heartbeat, ttl: 30s, initial_status: passing}
`)
	a := startAgent(t, "vm", "-config", cfg, "-data-dir", t.TempDir())
	client := &nethttp.Client{Timeout: 10 * time.Second}
	// The reads first, in the page's order, then the changes: a check
	// failed or maintenance turned on by an example of a change would
	// make the page's reads of a passing service answer otherwise.
	examples := docCurls(t)
	slices.SortStableFunc(examples, func(x, y docCurl) int {
		return cmp.Compare(boolInt(x.method != "GET"), boolInt(y.method != "GET"))
	})
	ran := 0
	for _, c := range examples {
		switch {
		case c.url == "", strings.Contains(c.line, " -N "), strings.HasSuffix(c.url, "/events/stream"),
			strings.HasPrefix(c.url, "/v1/join"), strings.HasPrefix(c.url, "/v1/leave"), strings.HasPrefix(c.url, "/v1/force-leave"):
			continue
		}
		t.Run(c.page+" "+c.method+" "+c.url, func(t *testing.T) {
			req, err := nethttp.NewRequest(c.method, "http://"+a.HTTPAddr()+c.url, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range c.header {
				for _, v := range vs {
					req.Header.Add(k, strings.ReplaceAll(v, "$VIGIL_HTTP_TOKEN", token))
				}
			}
			if h := c.header.Get("Host"); h != "" {
				req.Host = h
			}
			if !strings.Contains(c.line, "Authorization") && !strings.Contains(c.answer, `"error"`) {
				// The pages leave the token out where it is not the
				// point (a dev agent has none); this agent needs it.
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s: %s: %v", c.page, c.line, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantErr := strings.Contains(c.answer, `{"error"`)
			switch {
			case wantErr && (resp.StatusCode < 400 || resp.StatusCode > 499 || !strings.Contains(string(body), `"error"`)):
				t.Errorf("%s: %s: %d %s, want a 4xx with a JSON error as the page shows", c.page, c.line, resp.StatusCode, body)
			case !wantErr && (resp.StatusCode < 200 || resp.StatusCode > 299):
				t.Errorf("%s: %s: %d %s, want a 2xx as the page shows", c.page, c.line, resp.StatusCode, body)
			case !wantErr && c.url != "/v1/reload": // its fields say what changed: the page's edit is not this one
				if msg := sameShape(c.answer, body); msg != "" {
					t.Errorf("%s: %s: %s\npage: %s\ngot:  %s", c.page, c.line, msg, strings.TrimSpace(c.answer), body)
				}
			}
		})
		ran++
	}
	if ran < 25 {
		t.Errorf("ran %d examples of http-api.md, want at least 25", ran)
	}
}

// sameShape compares an answer shown on the page with one received: when
// the page shows JSON, the answer is JSON of the same kind, and an object
// has the page's top-level fields (values differ from cluster to cluster).
// Text answers (metrics, healthz) are not compared.
func sameShape(page string, got []byte) string {
	page = strings.TrimSpace(page)
	if page == "" || (page[0] != '{' && page[0] != '[') || strings.Contains(page, "\n{") {
		return ""
	}
	var want, have any
	if err := json.Unmarshal([]byte(page), &want); err != nil {
		return "" // the page shows an abridged answer
	}
	if err := json.Unmarshal(got, &have); err != nil {
		return "the answer is not JSON: " + err.Error()
	}
	wo, wok := want.(map[string]any)
	ho, hok := have.(map[string]any)
	if wok != hok {
		return "the answer is not the kind of JSON the page shows"
	}
	for k := range wo {
		if _, ok := ho[k]; !ok && wok {
			return "the answer lacks the field " + k
		}
	}
	return ""
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
