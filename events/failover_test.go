package events

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// memView is an in-memory ClusterView: the membership the test sets.
type memView struct {
	mu        sync.Mutex
	self      string
	members   map[string]Member
	announced []Announcement
	emitted   []Event
	net       *claimNet // the other agents' runners, for claims
}

// claimNet connects the runners of in-memory agents for the claim
// protocol: a claim reaches every registered runner.
type claimNet struct {
	mu      sync.Mutex
	runners map[string]*Runner
}

func (n *claimNet) add(name string, r *Runner) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.runners == nil {
		n.runners = map[string]*Runner{}
	}
	n.runners[name] = r
}

// Remembered implements ClusterView: a test agent has no data dir.
func (v *memView) Remembered() []string { return nil }

// Ask implements ClusterView: the registered runners answer at once.
func (v *memView) Ask(ctx context.Context, to []string, payload []byte, timeout time.Duration) map[string][]byte {
	out := map[string][]byte{}
	if v.net != nil {
		v.net.mu.Lock()
		for _, n := range to {
			if r := v.net.runners[n]; r != nil {
				out[n] = r.HandleClaim(payload)
			}
		}
		v.net.mu.Unlock()
	}
	return out
}

func newMemView(self string, alive ...string) *memView {
	v := &memView{self: self, members: map[string]Member{}}
	for _, n := range alive {
		v.members[n] = Member{Name: n, Status: "alive", Tags: map[string]string{"role": "replica", BootTag: "b1"}}
	}
	return v
}

func (v *memView) set(name, status string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := v.members[name]
	m.Name, m.Status = name, status
	v.members[name] = m
}

func (v *memView) Members() []Member {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []Member
	for _, m := range v.members {
		out = append(out, m)
	}
	return out
}

func (v *memView) Self() Member {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.members[v.self]
}

func (v *memView) Announce(p []byte) error { return nil }

// ConfirmQuorum answers for the members the view holds alive: a test
// view has no network to lose.
func (v *memView) ConfirmQuorum() (int, int) {
	alive, total := 0, 0
	for _, m := range v.Members() {
		if m.Status == "alive" {
			alive++
		}
		if m.Status != "left" {
			total++
		}
	}
	return alive, total
}

func (v *memView) Emit(ev Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.emitted = append(v.emitted, ev)
}

func (v *memView) emittedTypes() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var ts []string
	for _, e := range v.emitted {
		ts = append(ts, string(e.Type))
	}
	return strings.Join(ts, ",")
}

func newCoordRunner(t *testing.T, view *memView, cfg FailoverConfig, h Hook) *Runner {
	t.Helper()
	r, err := NewRunner(RunnerConfig{Self: view.Self, View: view, Failover: cfg, Logger: zerolog.Nop()}, []Hook{h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(t.Context()) })
	return r
}

func memberEvent(v *memView, typ Type, name string) Event {
	v.mu.Lock()
	m := v.members[name]
	v.mu.Unlock()
	return Event{Type: typ, Members: []Member{m}}
}

func outcomesOf(r *Runner) string {
	var out []string
	for _, run := range r.Runs() {
		out = append(out, string(run.Outcome))
	}
	return strings.Join(out, ",")
}

func TestQuorumHoldsThenRunsOrDrops(t *testing.T) {
	for _, tt := range []struct {
		name    string
		back    string // what happens to the subject while held
		outcome string
	}{
		{name: "quorum returns, subject still failed: runs", back: "failed", outcome: "held,ok"},
		{name: "quorum returns, subject alive again: dropped", back: "alive", outcome: "held,dropped"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newMemView("a", "a", "b", "c", "d", "e")
			r := newCoordRunner(t, v, FailoverConfig{BrakeFraction: 1}, Hook{Name: "h", Shell: "true", Quorum: true, Filters: Filters{{Type: MemberFailed}}})
			// a is on the minority side: it sees c, d, e failed.
			for _, n := range []string{"c", "d", "e"} {
				v.set(n, "failed")
			}
			r.Dispatch(memberEvent(v, MemberFailed, "e"))
			waitFor(t, 5*time.Second, "a held run", func() bool { return outcomesOf(r) == "held" })
			if st := r.FailoverStatus(); st.Quorum || len(st.Pending) != 1 || st.Pending[0].State != "held" {
				t.Errorf("status %+v", st)
			}
			// Healing: c and d come back; e stays failed or returns.
			v.set("c", "alive")
			v.set("d", "alive")
			v.set("e", tt.back)
			r.Dispatch(memberEvent(v, MemberJoin, "c"))
			waitFor(t, 5*time.Second, tt.outcome+" (have "+outcomesOf(r)+")", func() bool { return outcomesOf(r) == tt.outcome })
		})
	}
}

func TestRunOnOneChoosesTheSameRunnerEverywhere(t *testing.T) {
	names := []string{"r1", "r2", "r3", "r4"}
	ran := 0
	var runners []string
	net := &claimNet{}
	views, rs := map[string]*memView{}, map[string]*Runner{}
	for _, self := range names {
		v := newMemView(self, append(names, "p")...)
		v.members["p"] = Member{Name: "p", Status: "failed", Tags: map[string]string{"role": "primary", BootTag: "b0"}}
		v.net = net
		r := newCoordRunner(t, v, FailoverConfig{}, Hook{Name: "promote", Shell: "true", RunOn: RunOnOne,
			Eligible: map[string]string{"role": "replica"}})
		net.add(self, r)
		views[self], rs[self] = v, r
	}
	for _, self := range names {
		v, r := views[self], rs[self]
		r.Dispatch(memberEvent(v, MemberFailed, "p"))
		waitFor(t, 5*time.Second, self+"'s decision", func() bool { return len(r.Runs()) == 1 })
		run := r.Runs()[0]
		switch run.Outcome {
		case OutcomeOK:
			ran++
			runners = append(runners, self)
			if run.Key != "p@b0.0:member-failed" {
				t.Errorf("key %q", run.Key)
			}
			if run.Fence == 0 {
				t.Errorf("the claimed run has no fence: %+v", run)
			}
		case OutcomeSkipped:
			runners = append(runners, strings.Fields(run.Reason)[1])
		default:
			t.Errorf("%s: outcome %s (%s)", self, run.Outcome, run.Reason)
		}
	}
	if ran != 1 {
		t.Fatalf("%d agents ran it, want 1", ran)
	}
	for _, n := range runners {
		if n != runners[0] {
			t.Errorf("agents disagree on the runner: %v", runners)
		}
	}
}

func TestFlapDampingAndBrakeEmitEvents(t *testing.T) {
	v := newMemView("a", "a", "b", "c", "d", "e")
	r := newCoordRunner(t, v, FailoverConfig{FlapLimit: 1, BrakeFraction: 0.5}, Hook{Name: "h", Shell: "true"})
	// b flaps twice: damped past flap_limit 1.
	for i := 0; i < 2; i++ {
		v.set("b", "failed")
		r.Dispatch(memberEvent(v, MemberFailed, "b"))
		v.set("b", "alive")
		r.Dispatch(memberEvent(v, MemberJoin, "b"))
	}
	waitFor(t, 5*time.Second, "a damped event", func() bool { return v.emittedTypes() == "damped" })
	if _, ok := r.FailoverStatus().Damped["b"]; !ok {
		t.Errorf("b not damped: %+v", r.FailoverStatus())
	}
	// c, d, e fail: with b's two failures in the window, 4 of 5 > 0.5.
	for _, n := range []string{"c", "d"} {
		v.set(n, "failed")
		r.Dispatch(memberEvent(v, MemberFailed, n))
	}
	waitFor(t, 5*time.Second, "a brake event", func() bool { return strings.HasSuffix(v.emittedTypes(), "brake") })
	if !r.FailoverStatus().Brake {
		t.Error("brake not engaged")
	}
	if !r.ReleaseBrake() || r.FailoverStatus().Brake {
		t.Error("release did not lift the brake")
	}
}

func TestBrakeReleasesWhenEveryoneIsBack(t *testing.T) {
	v := newMemView("a", "a", "b", "c", "d", "e")
	r := newCoordRunner(t, v, FailoverConfig{}, Hook{Name: "h", Shell: "true", Filters: Filters{{Type: MemberFailed}}})
	for _, n := range []string{"c", "d", "e"} {
		v.set(n, "failed")
		r.Dispatch(memberEvent(v, MemberFailed, n))
	}
	if !r.FailoverStatus().Brake {
		t.Fatal("brake not engaged by 3 of 5")
	}
	for i, n := range []string{"c", "d", "e"} {
		v.set(n, "alive")
		r.Dispatch(memberEvent(v, MemberJoin, n))
		if got, want := r.FailoverStatus().Brake, i < 2; got != want {
			t.Fatalf("after %s returned: brake %v, want %v", n, got, want)
		}
	}
}
