package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// asNobody runs name with args as user nobody (setpriv, as root), with an
// environment that has no VIGIL_* variables, and returns its combined
// output and error.
func asNobody(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("setpriv", append([]string{"--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", name}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VIGIL_") && !strings.HasPrefix(kv, "HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME=/")
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// binaryForAll copies the vigil binary where every user can run it (the
// test's build directory is private to root).
func binaryForAll(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vigil-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(clustertest.Build(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(dir, "vigil")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOtherUserCannotAct: an agent started without http_token makes a
// token that only its user can read. Its user fires events with the plain
// vigil commands (no token flag); user nobody, with the vigil commands or
// curl, cannot fire events, change keys or read hook runs, and is told how
// to pass a token, while reads stay open to it. The attack, from
// nobody: POST /v1/keys/install and /v1/event.
func TestOtherUserCannotAct(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runs commands as user nobody: needs root (tests run as root in CI)")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux) to run commands as nobody")
	}
	a := startAgent(t, "a", "-hook", `user=echo "$VIGIL_USER_EVENT" >> "$OUT/user.log"`)
	bin := binaryForAll(t)
	userLog := filepath.Join(a.OutDir(), "user.log")

	// The agent's own user: the plain commands, no -http-token.
	if out, err := runClient(t, "event", "-http-addr", a.HTTPAddr(), "mine"); err != nil {
		t.Fatalf("vigil event as the agent's user: %v\n%s", err, out)
	}
	if out, err := execVigil(t, "event", "-http-addr", a.HTTPAddr(), "mine-too"); err != nil {
		t.Fatalf("vigil event (the binary) as the agent's user: %v\n%s", err, out)
	}

	// nobody, with the vigil commands: refused, and told how to pass one.
	out, err := asNobody(t, bin, "event", "-http-addr", a.HTTPAddr(), "theirs")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out, "missing token") ||
		!strings.Contains(out, "which your user can't read") || !strings.Contains(out, "pass -http-token TOKEN or set VIGIL_HTTP_TOKEN") {
		t.Errorf("vigil event as nobody: %v\n%s", err, out)
	}
	// The message docs/http-api.md shows, for this agent's token file.
	doc, rerr := os.ReadFile("../../docs/http-api.md")
	if rerr != nil {
		t.Fatal(rerr)
	}
	tokenFile := findToken("", a.HTTPAddr()).file
	var shown int
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "vigil: missing token") || strings.HasPrefix(line, "vigil: the agent's token is in") {
			shown++
			line = strings.ReplaceAll(line, "/run/vigil/http-token-7947", tokenFile)
			if !strings.Contains(out, line+"\n") {
				t.Errorf("vigil event as nobody does not print the docs' line:\n%s\ngot:\n%s", line, out)
			}
		}
	}
	if shown != 2 || tokenFile == "" {
		t.Errorf("docs/http-api.md shows %d lines of the refusal, want 2; token file %q", shown, tokenFile)
	}
	if out, err := asNobody(t, bin, "members", "-http-addr", a.HTTPAddr()); err != nil || !strings.Contains(out, "alive") {
		t.Errorf("vigil members as nobody (reads stay open): %v\n%s", err, out)
	}

	// nobody, with curl: every change and secret is a 401.
	if _, err := exec.LookPath("curl"); err == nil {
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/v1/event", `{"name":"theirs-curl"}`},
			{"POST", "/v1/keys/install", `{"key":"` + strings.Repeat("A", 43) + `="}`},
			{"POST", "/v1/keys/use", `{"key":"` + strings.Repeat("A", 43) + `="}`},
			{"GET", "/v1/keys", ""},
			{"GET", "/v1/hooks", ""},
			{"POST", "/v1/leave", ""},
		} {
			args := []string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", c.method}
			if c.body != "" {
				args = append(args, "-H", "Content-Type: application/json", "-d", c.body)
			}
			out, err := asNobody(t, "curl", append(args, "http://"+a.HTTPAddr()+c.path)...)
			if err != nil || out != "401" {
				t.Errorf("curl %s %s as nobody: %q %v, want 401", c.method, c.path, out, err)
			}
		}
		if out, _ := asNobody(t, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://"+a.HTTPAddr()+"/v1/members"); out != "200" {
			t.Errorf("curl GET /v1/members as nobody: %q, want 200", out)
		}
	}

	// Only the agent's user's events ran the hook.
	if out, err := runClient(t, "event", "-http-addr", a.HTTPAddr(), "after"); err != nil {
		t.Fatalf("vigil event: %v\n%s", err, out)
	}
	clustertest.WaitFor(t, 10*time.Second, "the hook's run for the last event", func() bool {
		b, _ := os.ReadFile(userLog)
		return bytes.Contains(b, []byte("after\n"))
	})
	b, _ := os.ReadFile(userLog)
	if got := string(b); !strings.Contains(got, "mine\n") || !strings.Contains(got, "mine-too\n") || strings.Contains(got, "theirs") {
		t.Errorf("hook runs:\n%s\nwant mine, mine-too and after only", got)
	}
	if st := statuses(a); st["a"] != "alive" {
		t.Errorf("the agent left: %v", st)
	}
}
