package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSafeText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"db-2", "db-2"},
		{"café 2", "café 2"},
		{"a\nb", `a\nb`},
		{"a\r\tb", `a\r\tb`},
		{"\x1b[2J", `\x1b[2J`},
		{"\x00\x07\x7f", `\x00\x07\x7f`},
		{"a\u009b31m", `a\u009b31m`},
		{"a\u202eb", `a\u202eb`},
		{"a\xffb", `a\xffb`},
		{"\U000e0001", `\U000e0001`},
	}
	for _, tt := range tests {
		if got := safeText(tt.in); got != tt.want {
			t.Errorf("safeText(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestSafeJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"name":"db-2","x":"café"}`, `{"name":"db-2","x":"café"}`},
		{"{\"name\":\"a\u009b31m\"}", `{"name":"a\u009b31m"}`},
		{"{\"name\":\"a\u202eb\"}", `{"name":"a\u202eb"}`},
		{"{\"name\":\"a\xffb\"}", `{"name":"a\ufffdb"}`},
		{"{\"name\":\"\U000e0001\"}", `{"name":"\udb40\udc01"}`},
	}
	for _, tt := range tests {
		if got := string(safeJSON([]byte(tt.in))); got != tt.want {
			t.Errorf("safeJSON(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// hostileAgent answers the client's reads with names, tags, check output
// and errors full of control characters, as an agent that took them from
// gossip before names were checked (or a forged one) would.
func hostileAgent(t *testing.T) string {
	t.Helper()
	const (
		name = `evil\nrow\u001b[2J\u009b31m`
		tag  = `a\u001b]0;pwned\u0007`
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/members":
			fmt.Fprintf(w, `[{"name":"%s","addr":"10.0.0.9","port":7946,"status":"alive","tags":{"role":"%s","health":"passing"}}]`, name, tag)
		case "/v1/checks":
			fmt.Fprintf(w, `[{"id":"web","kind":"exec","status":"critical","output":"line one\nline two\u001b[0m"}]`)
		case "/v1/health/service/web":
			fmt.Fprintf(w, `[{"node":"%s","addr":"10.0.0.9","port":80,"tags":{"v":"%s"},"health":"passing","status":"alive"}]`, name, tag)
		case "/v1/pick/web":
			fmt.Fprintf(w, `{"node":"%s","addr":"10.0.0.9\u001b[2J","port":80,"tags":{},"health":"passing","status":"alive"}`, name)
		case "/v1/failover":
			fmt.Fprintf(w, `{"brake":false,"quorum":true,"damped":{"%s":"2026-01-02T03:04:05Z"},"pending":[{"hook":"promote","key":"%s@1:member-failed","state":"held","runner":"%s","reason":"r\n2"}]}`, name, name, name)
		case "/v1/force-leave":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":"no member named \"%s\""}`, name)
		case "/v1/events/stream":
			w.Header().Set("Content-Type", "text/event-stream")
			if r.Header.Get("Last-Event-ID") != "" {
				<-r.Context().Done() // nothing new
				return
			}
			fmt.Fprintf(w, "id: 1\ndata: {\"id\":1,\"event\":\"member-join\",\"time\":\"2026-01-02T03:04:05Z\",\"members\":[{\"name\":\"%s\",\"addr\":\"10.0.0.9\",\"port\":7946,\"status\":\"alive\"}]}\n\n", name)
			fmt.Fprintf(w, "id: 2\ndata: {\"id\":2,\"event\":\"user\",\"time\":\"2026-01-02T03:04:05Z\",\"user_event\":{\"name\":\"%s\",\"payload\":\"p\\u001b\"}}\n\n", name)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ts.Close)
	return strings.TrimPrefix(ts.URL, "http://")
}

// TestClientEscapesControlCharacters: every table and stream the client
// prints shows the control characters of a hostile name, tag or output
// escaped: a newline can't add a row, ESC and the C1 CSI can't reach the
// terminal, in text and in JSON.
func TestClientEscapesControlCharacters(t *testing.T) {
	addr := hostileAgent(t)
	const shown = `evil\nrow\x1b[2J\u009b31m`
	tests := []struct {
		args  []string
		want  []string // substrings of the output
		lines int      // output lines, 0 to not check
	}{
		{[]string{"members"}, []string{shown, `role=a\x1b]0;pwned\x07`}, 2},
		{[]string{"members", "-format", "json"}, []string{`evil\nrow\u001b[2J\u009b31m`}, 0},
		{[]string{"members", "-tag", "health=passing", "-format", "json"}, []string{`evil\nrow\u001b[2J\u009b31m`}, 0},
		{[]string{"checks"}, []string{`line one line two\x1b[0m`}, 2}, // the table joins output lines
		{[]string{"checks", "-format", "json"}, []string{`line one\nline two\u001b[0m`}, 0},
		{[]string{"health", "-http-addr", addr, "web"}, []string{shown, `v=a\x1b]0;pwned\x07`}, 2},
		{[]string{"pick", "-http-addr", addr, "web"}, []string{`10.0.0.9\x1b[2J:80`}, 1},
		{[]string{"failover", "status"}, []string{"damped: " + shown + " until", `r\n2`}, 5},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := tt.args
			if !strings.Contains(strings.Join(args, " "), addr) {
				args = append(args, "-http-addr", addr)
			}
			out, err := runClient(t, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			checkEscaped(t, out, tt.want, tt.lines)
		})
	}
	t.Run("force-leave error", func(t *testing.T) {
		_, err := runClient(t, "force-leave", "-http-addr", addr, "x")
		if err == nil {
			t.Fatal("no error")
		}
		checkEscaped(t, err.Error(), []string{`no member named "` + shown + `"`}, 1)
	})
	for _, format := range []string{"text", "json"} {
		t.Run("monitor "+format, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			var out, errOut clientBuffer
			done := make(chan error, 1)
			go func() {
				done <- runClientCLI(ctx, &out, &errOut, "monitor", "-format", format, "-http-addr", addr)
			}()
			for strings.Count(out.String(), "\n") < 2 && ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("monitor: %v\n%s", err, errOut.String())
			}
			want := []string{shown, `payload="p\x1b"`}
			if format == "json" {
				want = []string{`evil\nrow\u001b[2J\u009b31m`, `"payload":"p\u001b"`}
			}
			checkEscaped(t, out.String(), want, 2)
		})
	}
}

// checkEscaped fails unless out has every want, no raw control character
// but newlines ending lines, and lines lines (unless 0).
func checkEscaped(t *testing.T, out string, want []string, lines int) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %s:\n%s", w, out)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07\r\u009b") {
		t.Errorf("raw control characters in the output: %q", out)
	}
	if n := strings.Count(strings.TrimSuffix(out, "\n"), "\n") + 1; lines > 0 && n != lines {
		t.Errorf("%d lines, want %d: %q", n, lines, out)
	}
}
