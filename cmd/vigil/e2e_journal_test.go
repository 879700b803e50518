package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestJournalResumesAfterCrash: an agent killed in the middle of a hook
// run and restarted with its data dir runs the hook again, with the same
// VIGIL_EVENT_ID, and keeps its hook history.
func TestJournalResumesAfterCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dataDir := t.TempDir()
	cfg := clustertest.WriteConfig(t, `
hooks:
  - name: deploy
    on: ["user:deploy"]
    shell: 'echo "$VIGIL_EVENT_ID" >> "$OUT/started"; sleep 3; echo "$VIGIL_EVENT_ID" >> "$OUT/finished"'
  - name: hello
    on: ["user:hello"]
    shell: 'true'
`)
	a := startAgent(t, "a", "-config", cfg, "-data-dir", dataDir)
	if code, err := postJSON(a, "/v1/event", `{"name": "hello"}`); err != nil || code != 200 {
		t.Fatalf("fire hello: %v %d", err, code)
	}
	clustertest.WaitFor(t, 10*time.Second, "the hello run", func() bool { return len(hookRuns(a, "hello")) == 1 })
	if code, err := postJSON(a, "/v1/event", `{"name": "deploy"}`); err != nil || code != 200 {
		t.Fatalf("fire deploy: %v %d", err, code)
	}
	// Started once its line is written: the shell creates the file a
	// moment before it writes to it, and a kill in between left it empty.
	var id string
	clustertest.WaitFor(t, 10*time.Second, "the deploy run to start", func() bool {
		started, _ := os.ReadFile(filepath.Join(a.OutDir(), "started"))
		id = strings.TrimSpace(string(started))
		return strings.HasSuffix(string(started), "\n")
	})
	a.Kill()

	b := startAgent(t, "a", "-config", cfg, "-data-dir", dataDir)
	clustertest.WaitFor(t, 20*time.Second, "the resumed run to finish", func() bool { return len(b.OutFiles("finished")) == 1 })
	finished, _ := os.ReadFile(filepath.Join(b.OutDir(), "finished"))
	if got := strings.TrimSpace(string(finished)); got != id {
		t.Errorf("resumed run has VIGIL_EVENT_ID %q, want the original %q", got, id)
	}
	if _, err := os.Stat(filepath.Join(a.OutDir(), "finished")); err == nil {
		t.Errorf("the first run finished although its agent was killed")
	}
	if runs := hookRuns(b, "hello"); len(runs) != 1 || runs[0].Outcome != "ok" {
		t.Errorf("hook history after restart: %+v, want the hello run from before", runs)
	}
	// Exactly once more: a later restart does not run it again.
	if err := b.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	c := startAgent(t, "a", "-config", cfg, "-data-dir", dataDir)
	time.Sleep(4 * time.Second) // past the resume delay: nothing may run
	if f := c.OutFiles("started"); len(f) != 0 {
		t.Errorf("a finished run was resumed again after a clean restart")
	}
}

// TestDataDirInUse: a second agent on the same data dir is refused.
func TestDataDirInUse(t *testing.T) {
	dataDir := t.TempDir()
	startAgent(t, "a", "-data-dir", dataDir)
	out, err := execVigil(t, "agent", "-name", "b", "-bind", "127.0.0.1:0", "-http", "127.0.0.1:0", "-data-dir", dataDir)
	if err == nil || !strings.Contains(out, "is in use by another vigil agent") {
		t.Errorf("second agent on one data dir: %v\n%s", err, out)
	}
}
