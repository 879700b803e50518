package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/internal/clustertest"
	"github.com/vigil-agent/vigil/membership"
)

// TestAgentRefusesHostileMember: a member named with a newline and an
// escape sequence, started without the gossip input check (as a forger
// or an agent without the check would be), joins a real agent directly
// and through a relay that stored it. The agent refuses it: it is not in
// /v1/members or `vigil members`, no hook gets it on stdin, while the
// relay's own join runs the hook; the agent logs it once, escaped.
func TestAgentRefusesHostileMember(t *testing.T) {
	const hostile = "evil\nrow\x1b[2J"
	a := startAgent(t, "honest", "-hook", `member-join,member-update,member-leave,member-failed=cat >> "$OUT/stdin.log"`)
	start := func(name string) *membership.Cluster {
		c, err := membership.StartUnchecked(membership.Config{NodeName: name, ClusterName: clustertest.ClusterName(), BindAddr: "127.0.0.1", BindPort: clustertest.FreePort(t),
			Profile: membership.ProfileLocal, Logger: zerolog.Nop()}, func(events.Event) {})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Shutdown() })
		return c
	}
	relay, bad := start("relay"), start(hostile)
	_, _ = bad.Join([]string{a.GossipAddr()}) // the agent refuses its push-pull
	if _, err := bad.Join([]string{net.JoinHostPort(relay.LocalMember().Addr, strconv.Itoa(int(relay.LocalMember().Port)))}); err != nil {
		t.Fatal(err)
	}
	if _, err := relay.Join([]string{a.GossipAddr()}); err != nil {
		t.Fatal(err)
	}
	stdinLog := filepath.Join(a.OutDir(), "stdin.log")
	clustertest.WaitFor(t, 15*time.Second, "the relay's member-join hook", func() bool {
		b, _ := os.ReadFile(stdinLog)
		return strings.Contains(string(b), "relay")
	})
	clustertest.WaitFor(t, 15*time.Second, "the agent to log the refusal", func() bool {
		return strings.Contains(a.Log(), "refusing a member from gossip")
	})

	if st := statuses(a); len(st) != 2 || st["relay"] != "alive" {
		t.Errorf("/v1/members: %v, want honest and relay only", st)
	}
	out, err := runClient(t, "members", "-http-addr", a.HTTPAddr())
	if err != nil || strings.Contains(out, "evil") || strings.Count(out, "\n") != 3 {
		t.Errorf("vigil members: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(stdinLog)
	if strings.Contains(string(b), "evil") || strings.Contains(string(b), "\x1b") {
		t.Errorf("a hook got the hostile member on stdin:\n%q", b)
	}
	log := a.Log()
	if n := strings.Count(log, "refusing a member from gossip"); n != 1 {
		t.Errorf("%d refusal lines, want 1", n)
	}
	if !strings.Contains(log, `"name":"\"evil\\nrow\\x1b[2J\""`) || strings.Contains(log, "\x1b") {
		t.Errorf("the refusal does not show the name escaped, or a raw ESC is in the log:\n%s", tail(log, 3000))
	}
}
