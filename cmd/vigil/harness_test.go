package main

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/agent"
	"github.com/vigil-agent/vigil/internal/clustertest"
)

// This file adapts internal/clustertest, the harness of every end-to-end
// test, to the vigil commands' tests: their agents run real processes on
// loopback with free ports, built once by clustertest.Build.

// startAgent runs `vigil agent` on loopback (clustertest.StartLocalWith)
// with the fast profile; extra args follow and override. The agent keeps
// its API token where the vigil commands find it without flags
// (agent.RuntimeDirs), so that the commands a test runs, in process
// (runClient) or as the binary (execVigil), find it as they would in
// production.
func startAgent(t *testing.T, name string, args ...string) *clustertest.Agent {
	t.Helper()
	opt := clustertest.Options{TokenDirs: agent.RuntimeDirs()}
	return clustertest.StartLocalWith(t, opt, name, append([]string{"-profile", "fast"}, args...)...)
}

// statuses returns each member's status as a sees it; none if it cannot
// be read.
func statuses(a *clustertest.Agent) map[string]string {
	st, _ := a.Statuses()
	return st
}

// hookRuns returns a's recorded runs of one hook; none if they cannot be
// read.
func hookRuns(a *clustertest.Agent, hook string) []clustertest.Run {
	runs, _ := a.Runs(hook)
	return runs
}

// postJSON sends a POST with a JSON body (or none) to the agent's API and
// returns the status code.
func postJSON(a *clustertest.Agent, path, body string) (int, error) {
	code, _, err := a.Send("POST", path, body)
	return code, err
}

// tail returns the last n bytes of s, marked as cut when it is.
func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// execVigil runs the vigil binary to completion (bounded by a minute) and
// returns its combined output.
func execVigil(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, clustertest.Build(t), args...).CombinedOutput()
	return string(out), err
}
