package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/agent"
	"github.com/vigil-agent/vigil/internal/clustertest"
)

// This file is the harness for end-to-end tests: it builds the vigil binary
// once and runs real agent processes on loopback with free ports.

// vigilBinary builds cmd/vigil once per test binary (clustertest.Build:
// VIGIL_TEST_BINARY runs another build instead, VIGIL_TEST_AGENT_RACE=1
// builds it with the race detector).
func vigilBinary(t *testing.T) string {
	t.Helper()
	return clustertest.Build(t)
}

// freePort returns a loopback port free on TCP and UDP, below the
// ephemeral range so no outgoing connection takes it before the agent
// binds it (clustertest.FreePort).
func freePort(t *testing.T) int { return clustertest.FreePort(t) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	clustertest.WaitEvery(t, d, 50*time.Millisecond, what, cond)
}

// testAgent is one vigil agent process.
type testAgent struct {
	name   string
	gossip string
	http   string
	dir    string // hook output lands in dir/out ($OUT)
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	logBuf *lockedBuffer
}

// lockedBuffer is an agent's log, read while it runs.
type lockedBuffer = clustertest.Buffer

// startAgent runs `vigil agent` with the local profile on free loopback
// ports; extra args follow. The process is killed at test end if it still
// runs, and its log is shown when the test failed.
func startAgent(t *testing.T, name string, args ...string) *testAgent {
	t.Helper()
	bin := vigilBinary(t)
	a := &testAgent{
		name:   name,
		gossip: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		http:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		dir:    t.TempDir(),
		done:   make(chan struct{}),
		logBuf: &lockedBuffer{},
	}
	if err := os.MkdirAll(filepath.Join(a.dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	// -hook-coalesce 0s: the tests' hooks name their member through
	// VIGIL_MEMBER_* (one run per member-failed event, started at once);
	// a test of coalescing passes its own -hook-coalesce.
	// -dns "": no DNS listener on the fixed default port (a test of DNS
	// passes its own -dns).
	full := append([]string{"agent", "-name", name, "-bind", a.gossip, "-http", a.http, "-profile", "fast",
		"-log-format", "json", "-log-level", "debug", "-hook-coalesce", "0s", "-dns", ""}, args...)
	a.cmd = exec.Command(bin, full...)
	a.cmd.Env = append(os.Environ(), "OUT="+filepath.Join(a.dir, "out"))
	a.cmd.Stdout = a.logBuf
	a.cmd.Stderr = a.logBuf
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.err = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.kill(t)
		// A killed agent leaves its token file (a graceful stop removes it).
		_, port, _ := net.SplitHostPort(a.http)
		for _, dir := range agent.RuntimeDirs() {
			_ = os.Remove(agent.RuntimeTokenPath(dir, port))
		}
		if t.Failed() {
			t.Logf("log of agent %s:\n%s", name, tail(a.logBuf.String(), 6000))
			// VIGIL_TEST_LOGS=DIR keeps every failed test's full agent logs.
			if dir := os.Getenv("VIGIL_TEST_LOGS"); dir != "" {
				p := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"), name+".log")
				if os.MkdirAll(filepath.Dir(p), 0o755) == nil {
					_ = os.WriteFile(p, []byte(a.logBuf.String()), 0o644)
				}
			}
		}
	})
	waitFor(t, 20*time.Second, "agent "+name+" to serve HTTP", func() bool {
		select {
		case <-a.done:
			t.Fatalf("agent %s exited at start: %v\n%s", name, a.err, a.logBuf.String())
		default:
		}
		resp, err := nethttp.Get("http://" + a.http + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return a
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// kill sends SIGKILL to the agent (its own PID only) and waits for it.
func (a *testAgent) kill(t *testing.T) {
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
}

// stop sends SIGTERM and waits for a graceful exit, returning its error.
func (a *testAgent) stop(t *testing.T) error {
	t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		return a.err
	case <-time.After(30 * time.Second):
		t.Fatalf("agent %s did not exit within 30s of SIGTERM", a.name)
		return nil
	}
}

type apiMember struct {
	Name   string            `json:"name"`
	Addr   string            `json:"addr"`
	Port   int               `json:"port"`
	Status string            `json:"status"`
	Tags   map[string]string `json:"tags"`
}

type apiRun struct {
	Hook     string `json:"hook"`
	EventID  uint64 `json:"event_id"`
	Event    string `json:"event"`
	Member   string `json:"member"`
	Outcome  string `json:"outcome"`
	Reason   string `json:"reason"`
	Key      string `json:"key"`
	ExitCode int    `json:"exit_code"`
	// Start and DurationMS date the run's end.
	Start      time.Time `json:"start"`
	DurationMS float64   `json:"duration_ms"`
	Output     string    `json:"output"`
}

// do sends req to the agent with its API token, as the vigil commands
// find it (the token file the agent writes for its user).
func (a *testAgent) do(req *nethttp.Request) (*nethttp.Response, error) {
	if tok := findToken("", a.http); tok.token != "" {
		req.Header.Set("Authorization", "Bearer "+tok.token)
	}
	return nethttp.DefaultClient.Do(req)
}

// getJSON fetches an API path into v; it reports whether it could.
func (a *testAgent) getJSON(path string, v any) bool {
	req, err := nethttp.NewRequest("GET", "http://"+a.http+path, nil)
	if err != nil {
		return false
	}
	resp, err := a.do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == 200 && json.Unmarshal(body, v) == nil
}

// statusOf returns each member's status as this agent sees it.
func (a *testAgent) statusOf() map[string]string {
	var ms []apiMember
	out := map[string]string{}
	if !a.getJSON("/v1/members", &ms) {
		return out
	}
	for _, m := range ms {
		out[m.Name] = m.Status
	}
	return out
}

// runs returns this agent's hook runs of one hook.
func (a *testAgent) runs(hook string) []apiRun {
	var all, out []apiRun
	a.getJSON("/v1/hooks", &all)
	for _, r := range all {
		if r.Hook == hook {
			out = append(out, r)
		}
	}
	return out
}

// outFiles lists the agent's hook output files matching a glob.
func (a *testAgent) outFiles(glob string) []string {
	m, _ := filepath.Glob(filepath.Join(a.dir, "out", glob))
	return m
}

// allSee waits until every agent sees exactly want (name → status) for the
// named members.
func allSee(t *testing.T, d time.Duration, agents []*testAgent, want map[string]string) {
	t.Helper()
	for _, a := range agents {
		waitFor(t, d, fmt.Sprintf("%s to see %v", a.name, want), func() bool {
			got := a.statusOf()
			for n, s := range want {
				if got[n] != s {
					return false
				}
			}
			return true
		})
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(p, []byte(strings.TrimLeft(body, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// postJSON sends a POST with a JSON body (or none) to the agent's API and
// returns the status code.
func postJSON(a *testAgent, path, body string) (int, error) {
	req, err := nethttp.NewRequest("POST", "http://"+a.http+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// execVigil runs the vigil binary to completion (bounded by a minute) and
// returns its combined output.
func execVigil(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, vigilBinary(t), args...).CombinedOutput()
	return string(out), err
}
