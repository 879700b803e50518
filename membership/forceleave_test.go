package membership

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/internal/faultnet"
)

// syncBuffer collects the logs of several members for a failure report.
type syncBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	last string
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// note adds a line unless it repeats the previous note.
func (b *syncBuffer) note(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s != b.last {
		b.last = s
		fmt.Fprintf(&b.buf, "%s test: %s\n", time.Now().Format(time.RFC3339Nano), s)
	}
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestForceLeaveRefusesAndRemoves(t *testing.T) {
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	logTo := func(name string) func(*Config) {
		return func(c *Config) {
			c.Logger = zerolog.New(logs).With().Timestamp().Str("node", name).Logger().Level(zerolog.DebugLevel)
		}
	}
	a, aAddr := startTestCluster(t, "a", logTo("a"))
	b, _ := startTestCluster(t, "b", logTo("b"))
	c, _ := startTestCluster(t, "c", logTo("c"))
	for _, m := range []*Cluster{b, c} {
		if _, err := m.Join([]string{aAddr}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "a to see b and c", func() bool { return statusIn(a, "b") == "alive" && statusIn(a, "c") == "alive" })

	for _, tt := range []struct {
		name string
		want error
	}{{"nope", ErrUnknownMember}, {"b", ErrNotFailed}, {"a", ErrNotFailed}} {
		if err := a.ForceLeave(tt.name, false); !errors.Is(err, tt.want) {
			t.Errorf("ForceLeave(%q) = %v, want %v", tt.name, err, tt.want)
		}
	}
	if statusIn(a, "b") != "alive" || statusIn(b, "b") != "alive" {
		t.Fatalf("a refused force-leave changed b: %q on a", statusIn(a, "b"))
	}

	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "a and b to see c fail", func() bool { return statusIn(a, "c") == "failed" && statusIn(b, "c") == "failed" })
	if err := a.ForceLeave("c", false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a and b to see c left", func() bool { return statusIn(a, "c") == "left" && statusIn(b, "c") == "left" })
	if err := b.ForceLeave("c", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a and b to forget c", func() bool {
		if statusIn(a, "c") == "" && statusIn(b, "c") == "" {
			return true
		}
		logs.note(fmt.Sprintf("a sees c %q, b sees c %q", statusIn(a, "c"), statusIn(b, "c")))
		return false
	})
}

// TestForceLeavePruneSurvivesALostBroadcast: every copy of a prune's
// gossip to one member is lost. serf sends it once; vigil repeats it, so
// that member forgets the dead member too.
func TestForceLeavePruneSurvivesALostBroadcast(t *testing.T) {
	lc := startLossCluster(t, 3, ProfileFast, Timing{}, 11)
	a, b, dead := lc.members[0], lc.members[1], lc.members[2]
	if err := dead.c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	lc.waitAll(t, 15*time.Second, "a and b to see the dead member failed", func(m *lossMember) map[string]string {
		if m == dead {
			return nil
		}
		return map[string]string{dead.name: "failed"}
	})
	// Nothing b sends reaches a while b prunes (ForceLeave returns once
	// serf has sent every copy).
	lc.faults.SetLink(b.addr, a.addr, faultnet.LinkFaults{Loss: 1})
	err := b.c.ForceLeave(dead.name, true)
	lc.faults.Clear()
	if err != nil {
		t.Fatal(err)
	}
	if s := statusIn(b.c, dead.name); s != "" {
		t.Fatalf("b still sees the pruned member %s", s)
	}
	if s := statusIn(a.c, dead.name); s != "failed" {
		t.Fatalf("a sees the dead member %q before the repeat: the cut let the prune through", s)
	}
	eventually(t, 10*time.Second, "a to forget the dead member", func() bool { return statusIn(a.c, dead.name) == "" })
}
