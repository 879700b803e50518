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
// while it is cut off from everyone; once a has x failed, the cut heals
// except between a and x, both ways. a's own pings to x are lost, so only
// its helper b (the one other live member, asked by the serf query
// vigil-ping) can reach x: a reports x refuted by b, not failed, and its
// member-failed hook never runs. Without the helper query (a budget of 0
// in helperQueriesPerFailure) a would report member-failed. b is not
// checked: it may have confirmed x while x was still cut off from it too
// (a true verdict then), or see x refute before its own suspicion ends.
func TestConfirmByHelper(t *testing.T) {
	faults := faultnet.NewFaults(13)
	var aMember atomic.Pointer[confirmMember]
	var xAddr atomic.Value
	var healed atomic.Bool
	starting := func(member string) {
		// Called by every member's check (x's of a and b too: not these).
		// The heal waits until a has x failed, so that a's check runs
		// with its link to x cut, whichever member checks first.
		a := aMember.Load()
		if member != "x" || a == nil || healed.Load() || !seesFailed(a.c, "x") {
			return
		}
		if !healed.CompareAndSwap(false, true) {
			return
		}
		cut := faultnet.LinkFaults{Loss: 1, DialLoss: 1}
		x := xAddr.Load().(string)
		faults.SetLink(a.addr, x, cut)
		faults.SetLink(x, a.addr, cut)
		faults.Rejoin(x)
	}
	// A 2 s confirm timeout: the query reaches b with a gossip round (fast:
	// every 100 ms), which the 150 ms default leaves little room for on a
	// loaded test machine.
	ms := startConfirmCluster(t, faults, true, 2*time.Second, starting)
	a, x := ms[0], ms[2]
	aMember.Store(a)
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
	if got := a.reported(events.MemberFailed); len(got) > 0 {
		t.Errorf("a reported member-failed for %v", got)
	}
	if got := a.hookRuns(t); len(got) > 0 {
		t.Errorf("a's member-failed hook ran for %v", got)
	}
}

// seesFailed reports whether c has the member name failed.
func seesFailed(c *Cluster, name string) bool {
	for _, m := range c.Members() {
		if m.Name == name {
			return m.Status == events.StatusFailed
		}
	}
	return false
}
