package probes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	clustertest.WaitEvery(t, within, 10*time.Millisecond, what, cond)
}

// testLogger logs to the test's output, shown when it fails.
func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
}

// runProbe runs the prober of a definition once within its timeout.
func runProbe(t *testing.T, d Definition) result {
	t.Helper()
	d = d.WithDefaults()
	if err := d.Validate(); err != nil {
		t.Fatalf("definition: %v", err)
	}
	p := newProber(d)
	t.Cleanup(p.close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(d.Timeout))
	defer cancel()
	return p.probe(ctx)
}

// script writes an executable shell script into a temp dir.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "check.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// processGone reports whether pid no longer runs: absent from /proc, or a
// zombie waiting for a parent (PID 1 in a container may never reap it).
func processGone(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return true
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// readPID waits for a script to write its child's pid into path.
func readPID(t *testing.T, path string) string {
	t.Helper()
	var pid string
	waitFor(t, 5*time.Second, "the child's pid in "+path, func() bool {
		b, err := os.ReadFile(path)
		pid = strings.TrimSpace(string(b))
		return err == nil && pid != ""
	})
	return pid
}
