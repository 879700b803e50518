package membership

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/internal/clustertest"
	"github.com/vigil-agent/vigil/internal/faultnet"
)

// TestConfirmByHelper: what the helpers are for. serf declares x failed
// while it is cut off from everyone; as the confirmation starts, the cut
// heals except between a and x, both ways. a's own pings to x are lost,
// so only its helper b (the one other live member, asked by the serf
// query vigil-ping) can reach x: a reports x refuted by b, not failed, and
// its member-failed hook never runs. Without the helper query (a budget
// of 0 in helperQueriesPerFailure) a would report member-failed.
func TestConfirmByHelper(t *testing.T) {
	faults := faultnet.NewFaults(13)
	var aAddr, xAddr atomic.Value
	var healed atomic.Bool
	starting := func(member string) {
		// Called by a and b (x confirms a and b in turn: not these).
		if member != "x" || !healed.CompareAndSwap(false, true) {
			return
		}
		cut := faultnet.LinkFaults{Loss: 1, DialLoss: 1}
		a, x := aAddr.Load().(string), xAddr.Load().(string)
		faults.SetLink(a, x, cut)
		faults.SetLink(x, a, cut)
		faults.Rejoin(x)
	}
	// A 1 s confirm timeout: the query reaches b with a gossip round (fast:
	// every 100 ms), which the 150 ms default leaves little room for on a
	// loaded test machine.
	ms := startConfirmCluster(t, faults, true, time.Second, starting)
	a, b, x := ms[0], ms[1], ms[2]
	aAddr.Store(a.addr)
	xAddr.Store(x.addr)
	faults.Isolate(x.addr)

	clustertest.Eventually(t, 20*time.Second, "a to report x refuted by b", func() error {
		var refuted []events.Event
		a.mu.Lock()
		for _, e := range a.events {
			if s, ok := e.Subject(); ok && s.Name == "x" && e.Type == events.Refuted {
				refuted = append(refuted, e)
			}
		}
		a.mu.Unlock()
		if len(refuted) == 0 {
			return fmt.Errorf("a reported no refuted event for x (member-failed for %v)", a.reported(events.MemberFailed))
		}
		if by := refuted[0].RefutedBy; by != "b" {
			return fmt.Errorf("a reported x refuted by %q, want b", by)
		}
		return nil
	})
	clustertest.Eventually(t, 20*time.Second, "x alive again in a's view", func() error {
		for _, o := range a.c.Members() {
			if o.Name == "x" && o.Status != events.StatusAlive {
				return fmt.Errorf("a sees x %s", o.Status)
			}
		}
		return nil
	})
	for _, m := range []*confirmMember{a, b} {
		if got := m.reported(events.MemberFailed); len(got) > 0 {
			t.Errorf("%s reported member-failed for %v", m.name, got)
		}
		if got := m.hookRuns(t); len(got) > 0 {
			t.Errorf("%s's member-failed hook ran for %v", m.name, got)
		}
	}
}
