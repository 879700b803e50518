package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-agent/vigil/agent"
)

// TestClientFindsAgentToken: with no -http-token, the commands send the
// token file of the -http-addr port from the runtime directory, for a
// loopback agent only, never from a directory others can write; a flag
// wins over the file.
func TestClientFindsAgentToken(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"fired":true}`))
	}))
	t.Cleanup(ts.Close)
	addr := strings.TrimPrefix(ts.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	run := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv(agent.RuntimeDirEnv, run)
	t.Setenv("VIGIL_HTTP_TOKEN", "")
	if err := os.WriteFile(agent.RuntimeTokenPath(run, port), []byte("made-by-the-agent-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		return got[len(got)-1]
	}
	if out, err := runClient(t, "event", "-http-addr", addr, "x"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if h := last(); h != "Bearer made-by-the-agent-0123456789" {
		t.Errorf("sent %q, want the token file's", h)
	}
	if out, err := runClient(t, "event", "-http-addr", "localhost:"+port, "x"); err != nil || last() != "Bearer made-by-the-agent-0123456789" {
		t.Errorf("localhost: %v %q\n%s", err, last(), out)
	}
	if out, err := runClient(t, "event", "-http-addr", addr, "-http-token", "from-the-flag-0123456789", "x"); err != nil || last() != "Bearer from-the-flag-0123456789" {
		t.Errorf("-http-token: %v %q\n%s", err, last(), out)
	}
	if tok := findToken("", "10.0.0.9:"+port); tok.token != "" {
		t.Errorf("a token file was used for a non-loopback agent: %+v", tok)
	}
	if err := os.Chmod(run, 0o777); err != nil {
		t.Fatal(err)
	}
	if tok := findToken("", addr); tok.token != "" {
		t.Errorf("a token file in a directory every user can write was used: %+v", tok)
	}
}
