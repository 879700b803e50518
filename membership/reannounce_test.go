package membership

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/internal/clustertest"
	"github.com/vigil-agent/vigil/internal/faultnet"
)

func TestIsRefutation(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"[WARN] memberlist: Refuting a suspect message (from: h4)", true},
		{"[WARN] memberlist: Refuting a dead message (from: h4)", true},
		// A name conflict, not an accusation: re-announcing does not help.
		{"[WARN] memberlist: Refuting an alive message for 'h1' (10.0.0.1:7946) meta:([] VS []), vsn:([] VS [])", false},
		{"[INFO] memberlist: Suspect h3 has failed, no acks received", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isRefutation([]byte(tt.line)); got != tt.want {
			t.Errorf("isRefutation(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

// TestMemberlistLoggerSignalsRefutations: the signal does not depend on
// the log level, since an operator may well log at error only.
func TestMemberlistLoggerSignalsRefutations(t *testing.T) {
	var out bytes.Buffer
	calls, dead := 0, 0
	l := newMemberlistLogger(zerolog.New(&out).Level(zerolog.ErrorLevel), func(d bool) {
		calls++
		if d {
			dead++
		}
	})
	l.Printf("[WARN] memberlist: Refuting a suspect message (from: %s)", "h4")
	l.Printf("[DEBUG] memberlist: Failed UDP ping: %s (timeout reached)", "h3")
	l.Printf("[WARN] memberlist: Refuting a dead message (from: %s)", "h4")
	if calls != 2 || dead != 1 {
		t.Errorf("onRefute called %d times (%d for a dead message) for two refutations, one of a dead message; want 2 (1)", calls, dead)
	}
	if out.Len() != 0 {
		t.Errorf("warn lines logged at error level: %s", out.String())
	}
}

// TestReceiveDeadMemberAccusationsAreOutlived: one member can send but
// receives nothing. It suspects every other member in turn and, nobody
// contradicting it within its hearing, declares them all failed. Each
// accused member refutes and re-announces itself (reannounce.go), so no
// member but the deaf one is ever declared failed by the members that can
// hear.
func TestReceiveDeadMemberAccusationsAreOutlived(t *testing.T) {
	const n = 5
	lc := startLossCluster(t, n, ProfileFast, Timing{}, 7)
	deaf := lc.members[n-1]
	others := lc.members[:n-1]
	start := time.Now()
	for _, m := range others {
		// Nothing reaches the deaf member; its TCP dials fail too (their
		// answers would be lost), while its UDP packets still arrive.
		lc.faults.SetLink(m.addr, deaf.addr, faultnet.LinkFaults{Loss: 1, DialLoss: 1})
		lc.faults.SetLink(deaf.addr, m.addr, faultnet.LinkFaults{DialLoss: 1})
	}
	noFalseFailure := func() error {
		for _, m := range others {
			for who, k := range m.count(events.MemberFailed, start) {
				if who != deaf.name {
					t.Fatalf("%s declared %s failed ×%d while only %s had lost its receive path", m.name, who, k, deaf.name)
				}
			}
		}
		return nil
	}
	clustertest.Eventually(t, 30*time.Second, "the deaf member to have declared every other member failed", func() error {
		_ = noFalseFailure()
		st := deaf.statuses()
		for _, m := range others {
			if st[m.name] != "failed" {
				return fmt.Errorf("%s sees %s %s", deaf.name, m.name, st[m.name])
			}
		}
		return nil
	})
	clustertest.Eventually(t, 10*time.Second, "every accused member to re-announce itself", func() error {
		_ = noFalseFailure()
		for _, m := range others {
			if m.c.reannounced.Load() == 0 {
				return fmt.Errorf("%s has not re-announced itself (%d refutations logged in all)", m.name, lc.logs.counts[2].Load())
			}
		}
		return nil
	})
	// The suspicions the accused members' peers adopted from the deaf
	// member last at most SuspicionMaxTimeoutMult × the minimum: watch
	// past them.
	lc.waitAll(t, 30*time.Second, "the others to see the deaf member failed and each other alive", func(m *lossMember) map[string]string {
		if m == deaf {
			return nil
		}
		want := map[string]string{deaf.name: "failed"}
		for _, m := range others {
			want[m.name] = "alive"
		}
		return want
	})
	hold := time.Now().Add(4 * time.Second)
	for time.Now().Before(hold) {
		_ = noFalseFailure()
		time.Sleep(100 * time.Millisecond)
	}
	for _, m := range others {
		if k := m.count(events.MemberFailed, start)[deaf.name]; k != 1 {
			t.Errorf("%s declared %s failed %d times, want once", m.name, deaf.name, k)
		}
		t.Logf("%s re-announced itself %d times", m.name, m.c.reannounced.Load())
	}
}
