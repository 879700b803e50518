package failover

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// memNet connects the grants of several agents in memory; cut members
// neither receive nor answer.
type memNet struct {
	mu     sync.Mutex
	grants map[string]*Grants
	cut    map[string]bool
	boots  map[string]string
}

func newMemNet(t *testing.T, names ...string) *memNet {
	n := &memNet{grants: map[string]*Grants{}, cut: map[string]bool{}, boots: map[string]string{}}
	for _, name := range names {
		g, err := OpenGrants(filepath.Join(t.TempDir(), GrantsFile))
		if err != nil {
			t.Fatal(err)
		}
		g.SetBootOf(n.bootOf)
		n.grants[name] = g
		n.boots[name] = "b1"
	}
	return n
}

func (n *memNet) bootOf(name string) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	b, ok := n.boots[name]
	return b, ok
}

func (n *memNet) setCut(name string, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[name] = cut
}

// transport is what agent from sees.
type memTransport struct {
	n    *memNet
	from string
}

func (t memTransport) Ask(ctx context.Context, to []string, payload []byte, timeout time.Duration) map[string][]byte {
	t.n.mu.Lock()
	fromCut := t.n.cut[t.from]
	t.n.mu.Unlock()
	out := map[string][]byte{}
	for _, name := range to {
		t.n.mu.Lock()
		g, cut := t.n.grants[name], t.n.cut[name]
		t.n.mu.Unlock()
		if cut || fromCut || g == nil {
			continue
		}
		out[name] = g.Handle(payload)
	}
	if len(out) < len(to) {
		select { // a real transport waits for the missing answers
		case <-time.After(timeout):
		case <-ctx.Done():
		}
	}
	return out
}

func (n *memNet) lock(name string, lease time.Duration) *Quorum {
	return NewQuorum(QuorumConfig{
		Grants:    n.grants[name],
		Transport: memTransport{n, name},
		Peers: func() (Member, []Member) {
			n.mu.Lock()
			defer n.mu.Unlock()
			var ms []Member
			for m, b := range n.boots {
				ms = append(ms, Member{Name: m, Boot: b})
			}
			return Member{Name: name, Boot: n.boots[name]}, ms
		},
		Lease:        lease,
		ClaimTimeout: 300 * time.Millisecond,
	})
}

var testTask = TaskID{Hook: "promote", Key: "db1@b0.0:member-failed"}

func TestQuorumClaimIsExclusiveAndFencesGrow(t *testing.T) {
	n := newMemNet(t, "a", "b", "c", "d", "e")
	ctx := context.Background()
	la, err := n.lock("a", time.Second).Acquire(ctx, testTask, ClaimOptions{})
	if err != nil {
		t.Fatalf("a's claim: %v", err)
	}
	defer la.Release(ctx)
	_, err = n.lock("b", time.Second).Acquire(ctx, testTask, ClaimOptions{})
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "a" || held.Fence != la.Fence() {
		t.Fatalf("b's claim while a holds it: %v, want held by a with fence %d", err, la.Fence())
	}
	// a is cut off: it cannot renew, so its lease is lost before it ends
	// at the granters; b takes over only after that, with a larger fence.
	n.setCut("a", true)
	select {
	case <-la.Lost():
	case <-time.After(3 * time.Second):
		t.Fatal("a's lease was not lost although a reaches no one")
	}
	lostAt := time.Now()
	var lb Lease
	deadline := time.Now().Add(5 * time.Second)
	for lb == nil && time.Now().Before(deadline) {
		if lb, err = n.lock("b", time.Second).Acquire(ctx, testTask, ClaimOptions{}); err != nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if lb == nil {
		t.Fatalf("b never took over: %v", err)
	}
	if lb.Fence() <= la.Fence() {
		t.Fatalf("takeover fence %d not above the first %d", lb.Fence(), la.Fence())
	}
	if since := time.Since(lostAt); since < 0 {
		t.Fatalf("impossible: %v", since)
	}
	// a's late completion is refused: b's claim replaced it.
	n.setCut("a", false)
	if err := la.Complete(ctx, "ok"); !errors.As(err, new(*StaleError)) {
		t.Fatalf("a's stale completion: %v, want StaleError", err)
	}
	if err := lb.Complete(ctx, "ok"); err != nil {
		t.Fatalf("b's completion: %v", err)
	}
	// Any later claim learns it was done, from any granter.
	n.setCut("b", true)
	_, err = n.lock("c", time.Second).Acquire(ctx, testTask, ClaimOptions{})
	var done *DoneError
	if !errors.As(err, &done) || done.Runner != "b" || done.Fence != lb.Fence() {
		t.Fatalf("c's claim after b completed: %v, want done by b", err)
	}
}

func TestQuorumClaimNeedsAMajority(t *testing.T) {
	n := newMemNet(t, "a", "b", "c", "d", "e")
	n.setCut("d", true)
	n.setCut("e", true)
	n.setCut("c", true)
	_, err := n.lock("a", time.Second).Acquire(context.Background(), testTask, ClaimOptions{})
	var nm *NoMajorityError
	if !errors.As(err, &nm) || nm.Granted != 2 || nm.Needed != 3 {
		t.Fatalf("claim with 2 of 5 reachable: %v, want no majority (2 of 3 needed)", err)
	}
	// The refused claim gave its grants back: another claimant with a
	// majority is not blocked by it.
	n.setCut("c", false)
	n.setCut("d", false)
	n.setCut("a", true)
	if _, err := n.lock("c", time.Second).Acquire(context.Background(), testTask, ClaimOptions{}); err != nil {
		t.Fatalf("c's claim after a's failed one: %v", err)
	}
}

func TestQuorumRestartedHolderLosesItsLease(t *testing.T) {
	n := newMemNet(t, "a", "b", "c")
	ctx := context.Background()
	la, err := n.lock("a", time.Hour).Acquire(ctx, testTask, ClaimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer la.Release(ctx)
	n.mu.Lock()
	n.boots["a"] = "b2" // a restarted: its runs died with it
	n.mu.Unlock()
	lb, err := n.lock("b", time.Hour).Acquire(ctx, testTask, ClaimOptions{})
	if err != nil {
		t.Fatalf("b's claim after a restarted: %v, want granted (a's lease ends with its boot)", err)
	}
	if lb.Fence() <= la.Fence() {
		t.Fatalf("fence %d not above %d", lb.Fence(), la.Fence())
	}
	lb.Release(ctx)
}

func TestGrantsSurviveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), GrantsFile)
	g, err := OpenGrants(path)
	if err != nil {
		t.Fatal(err)
	}
	claim := func(g *Grants, name string, term uint64) answer {
		return g.handle(&message{Op: opClaim, Hook: testTask.Hook, Key: testTask.Key, Name: name, Boot: "x", Term: term, LeaseMS: 60000})
	}
	if a := claim(g, "a", 10); !a.Granted {
		t.Fatalf("first claim refused: %+v", a)
	}
	g2, err := OpenGrants(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		term uint64
	}{{"b", 11}, {"b", 9}} {
		if a := claim(g2, tc.name, tc.term); a.Granted || a.Holder != "a" {
			t.Errorf("after a restart, %s's claim with term %d: %+v, want refused (a's lease read back as live)", tc.name, tc.term, a)
		}
	}
	g2.handle(&message{Op: opDone, Hook: testTask.Hook, Key: testTask.Key, Name: "a", Boot: "x", Term: 10, Outcome: "ok"})
	g3, err := OpenGrants(path)
	if err != nil {
		t.Fatal(err)
	}
	if a := claim(g3, "c", 20); !a.Done || a.Holder != "a" || a.Term != 10 {
		t.Fatalf("claim of a completed testTask after a restart: %+v, want done by a with fence 10", a)
	}
}

func TestGrantsRefuseStaleTerms(t *testing.T) {
	g, _ := OpenGrants("")
	for i, tc := range []struct {
		op, name string
		term     uint64
		granted  bool
	}{
		{opClaim, "a", 5, true},
		{opClaim, "a", 5, true},   // renewal
		{opRelease, "a", 5, true}, // a gives it up
		{opClaim, "b", 5, false},  // not above 5
		{opClaim, "b", 6, true},
		{opDone, "a", 5, false}, // a's stale completion
		{opDone, "b", 6, true},
	} {
		a := g.handle(&message{Op: tc.op, Hook: "h", Key: "k", Name: tc.name, Term: tc.term, LeaseMS: 1000})
		if a.Granted != tc.granted {
			t.Errorf("step %d %s %s term %d: %+v, granted want %v", i, tc.op, tc.name, tc.term, a, tc.granted)
		}
	}
}

// TestQuorumClaimRefusedWhenTheMemberIsBack: granters that see the failed
// member alive (in a newer life: it refuted or restarted; or in the same
// one: the other side of a healed partition never saw it fail) refuse a
// new claim, so a runner whose view lags does not promote a second
// primary.
func TestQuorumClaimRefusedWhenTheMemberIsBack(t *testing.T) {
	for _, tc := range []struct {
		name    string
		life    string // the subject's life the granters see
		alive   bool
		granted bool
	}{
		{"still failed everywhere", "b1.0", false, true},
		{"alive in the same life (never saw it fail, or not yet)", "b1.0", true, false},
		{"alive again after refuting", "b1.1", true, false},
		{"restarted", "b2.0", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newMemNet(t, "a", "b", "c", "d", "e")
			for _, name := range []string{"b", "c", "d", "e"} {
				n.grants[name].SetLifeOf(func(string) (string, bool, bool) { return tc.life, tc.alive, true })
			}
			l, err := n.lock("a", time.Second).Acquire(context.Background(), testTask, ClaimOptions{Subject: "db1", Life: "b1.0"})
			if tc.granted {
				if err != nil {
					t.Fatalf("claim: %v, want granted", err)
				}
				l.Release(context.Background())
				return
			}
			var back *BackError
			if !errors.As(err, &back) || back.Subject != "db1" {
				t.Fatalf("claim: %v, want refused: the member is back", err)
			}
		})
	}
}
