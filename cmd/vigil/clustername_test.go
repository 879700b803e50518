package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestClusterNameJoin: `vigil join` reaches an agent with the same
// cluster_name, and across names fails with the error
// docs/configuration.md shows, while the refusing agent logs the
// refusal the docs quote.
func TestClusterNameJoin(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "A join across names fails with the cause in the error:\n\n```\n")
	if !ok {
		t.Fatal("docs/configuration.md has no cluster_name join error example")
	}
	example, _, _ := strings.Cut(rest, "\n```")

	staging := startAgent(t, "staging", "-cluster-name", "staging")
	prod := startAgent(t, "prod", "-cluster-name", "prod-db")
	prod2 := startAgent(t, "prod2", "-cluster-name", "prod-db")

	out, err := execVigil(t, "join", "-http-addr", prod.HTTPAddr(), staging.GossipAddr())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("vigil join across cluster names: %v, want exit status 1\n%s", err, out)
	}
	want := "vigil: join: " + strings.ReplaceAll(example, "127.0.0.1:7946", staging.GossipAddr()) + "\n"
	if reset, ok := resetInsteadOfEOF(out, want); ok {
		// The peer closed before reading what the join sent: the kernel
		// reset the connection (the docs say so below the example).
		want = reset
	}
	if out != want {
		t.Errorf("vigil join across cluster names prints:\n%s\ndocs/configuration.md says (with the address):\n%s", out, want)
	}

	// The refusing agent says why, in the words the docs quote.
	clustertest.WaitFor(t, 5*time.Second, "staging to log the refused stream", func() bool {
		return strings.Contains(staging.Log(), "discarding stream with unacceptable label")
	})

	if out, err := execVigil(t, "join", "-http-addr", prod.HTTPAddr(), prod2.GossipAddr()); err != nil {
		t.Fatalf("vigil join with the same cluster name: %v\n%s", err, out)
	}
	clustertest.WaitFor(t, 10*time.Second, "prod to list prod2 alive", func() bool { return statuses(prod)["prod2"] == "alive" })
	if st := statuses(prod)["staging"]; st != "" {
		t.Errorf("prod lists staging as %s", st)
	}
	if st := statuses(staging)["prod"]; st != "" {
		t.Errorf("staging lists prod as %s", st)
	}
}

// resetInsteadOfEOF returns want with its "EOF" replaced by out's
// connection-reset error, when out is want in every other word: the
// variant docs/configuration.md names below its example.
func resetInsteadOfEOF(out, want string) (string, bool) {
	const suffix = ": read: connection reset by peer"
	before, after, ok := strings.Cut(want, ": EOF (")
	if !ok || !strings.HasPrefix(out, before+": read tcp ") {
		return "", false
	}
	i := strings.Index(out, suffix+" (")
	if i < 0 {
		return "", false
	}
	reset := out[:i+len(suffix)] + " (" + after
	return reset, reset == out
}

// TestResetInsteadOfEOF: the reset variant is accepted only when the rest
// of the line is the documented one.
func TestResetInsteadOfEOF(t *testing.T) {
	const want = `vigil: join: 127.0.0.1:26854: EOF (the peer closed the connection: this agent's cluster_name is "prod-db": the peer's must be the same)` + "\n"
	for _, tt := range []struct {
		out string
		ok  bool
	}{
		{`vigil: join: 127.0.0.1:26854: read tcp 127.0.0.1:52648->127.0.0.1:26854: read: connection reset by peer (the peer closed the connection: this agent's cluster_name is "prod-db": the peer's must be the same)` + "\n", true},
		{`vigil: join: 127.0.0.1:26854: read tcp 127.0.0.1:52648->127.0.0.1:26854: read: connection reset by peer` + "\n", false},
		{`vigil: join: 127.0.0.1:9999: read tcp 127.0.0.1:52648->127.0.0.1:9999: read: connection reset by peer (the peer closed the connection: this agent's cluster_name is "prod-db": the peer's must be the same)` + "\n", false},
		{want, false},
	} {
		if _, ok := resetInsteadOfEOF(tt.out, want); ok != tt.ok {
			t.Errorf("resetInsteadOfEOF(%q) = %v, want %v", tt.out, ok, tt.ok)
		}
	}
}
