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
