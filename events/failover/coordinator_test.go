package failover

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/hook"
	"github.com/vigil-agent/vigil/internal/clustertest"

	"github.com/rs/zerolog"
)

// memView is an in-memory ClusterView: the membership the test sets.
type memView struct {
	mu        sync.Mutex
	self      string
	members   map[string]events.Member
	announced []Announcement
	emitted   []events.Event
	net       *claimNet // the other agents' runners, for claims
}

// claimNet connects the runners of in-memory agents for the claim
// protocol: a claim reaches every registered runner.
type claimNet struct {
	mu      sync.Mutex
	runners map[string]*Coordinator
}

func (n *claimNet) add(name string, c *Coordinator) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.runners == nil {
		n.runners = map[string]*Coordinator{}
	}
	n.runners[name] = c
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
	v := &memView{self: self, members: map[string]events.Member{}}
	for _, n := range alive {
		v.members[n] = events.Member{Name: n, Status: "alive", Tags: map[string]string{"role": "replica", events.BootTag: "b1"}}
	}
	return v
}

func (v *memView) set(name, status string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := v.members[name]
	m.Name, m.Status = name, events.MemberStatus(status)
	v.members[name] = m
}

func (v *memView) Members() []events.Member {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []events.Member
	for _, m := range v.members {
		out = append(out, m)
	}
	return out
}

func (v *memView) Self() events.Member {
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

func (v *memView) Emit(ev events.Event) {
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

// testAgent is a runner with its coordinator.
type testAgent struct {
	*hook.Runner
	c *Coordinator
}

func newCoordRunner(t *testing.T, view *memView, cfg Config, h hook.Hook) testAgent {
	t.Helper()
	c := NewCoordinator(CoordinatorConfig{View: view, Guards: cfg, Logger: zerolog.Nop()})
	r, err := hook.NewRunner(hook.RunnerConfig{Self: view.Self, Coordinate: c.Attach, Logger: zerolog.Nop()}, []hook.Hook{h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(t.Context()); c.Close() })
	return testAgent{r, c}
}

func memberEvent(v *memView, typ events.Type, name string) events.Event {
	v.mu.Lock()
	m := v.members[name]
	v.mu.Unlock()
	return events.Event{Type: typ, Members: []events.Member{m}}
}

func outcomesOf(r testAgent) string {
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
			r := newCoordRunner(t, v, Config{BrakeFraction: 1}, hook.Hook{Name: "h", Shell: "true", Quorum: true, Filters: events.Filters{{Type: events.MemberFailed}}})
			// a is on the minority side: it sees c, d, e failed.
			for _, n := range []string{"c", "d", "e"} {
				v.set(n, "failed")
			}
			r.Dispatch(memberEvent(v, events.MemberFailed, "e"))
			clustertest.WaitFor(t, 5*time.Second, "a held run", func() bool { return outcomesOf(r) == "held" })
			if st := r.c.Status(); st.Quorum || len(st.Pending) != 1 || st.Pending[0].State != "held" {
				t.Errorf("status %+v", st)
			}
			// Healing: c and d come back; e stays failed or returns.
			v.set("c", "alive")
			v.set("d", "alive")
			v.set("e", tt.back)
			r.Dispatch(memberEvent(v, events.MemberJoin, "c"))
			clustertest.WaitFor(t, 5*time.Second, tt.outcome+" (have "+outcomesOf(r)+")", func() bool { return outcomesOf(r) == tt.outcome })
		})
	}
}

func TestRunOnOneChoosesTheSameRunnerEverywhere(t *testing.T) {
	names := []string{"r1", "r2", "r3", "r4"}
	ran := 0
	var runners []string
	net := &claimNet{}
	views, rs := map[string]*memView{}, map[string]testAgent{}
	for _, self := range names {
		v := newMemView(self, append(names, "p")...)
		v.members["p"] = events.Member{Name: "p", Status: "failed", Tags: map[string]string{"role": "primary", events.BootTag: "b0"}}
		v.net = net
		r := newCoordRunner(t, v, Config{}, hook.Hook{Name: "promote", Shell: "true", RunOn: hook.RunOnOne,
			Eligible: map[string]string{"role": "replica"}})
		net.add(self, r.c)
		views[self], rs[self] = v, r
	}
	for _, self := range names {
		v, r := views[self], rs[self]
		r.Dispatch(memberEvent(v, events.MemberFailed, "p"))
		clustertest.WaitFor(t, 5*time.Second, self+"'s decision", func() bool { return len(r.Runs()) == 1 })
		run := r.Runs()[0]
		switch run.Outcome {
		case events.OutcomeOK:
			ran++
			runners = append(runners, self)
			if run.Key != "p@b0.0:member-failed" {
				t.Errorf("key %q", run.Key)
			}
			if run.Fence == 0 {
				t.Errorf("the claimed run has no fence: %+v", run)
			}
		case events.OutcomeSkipped:
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
	r := newCoordRunner(t, v, Config{FlapLimit: 1, BrakeFraction: 0.5}, hook.Hook{Name: "h", Shell: "true"})
	// b flaps twice: damped past flap_limit 1.
	for i := 0; i < 2; i++ {
		v.set("b", "failed")
		r.Dispatch(memberEvent(v, events.MemberFailed, "b"))
		v.set("b", "alive")
		r.Dispatch(memberEvent(v, events.MemberJoin, "b"))
	}
	clustertest.WaitFor(t, 5*time.Second, "a damped event", func() bool { return v.emittedTypes() == "damped" })
	if _, ok := r.c.Status().Damped["b"]; !ok {
		t.Errorf("b not damped: %+v", r.c.Status())
	}
	// c, d, e fail: with b's two failures in the window, 4 of 5 > 0.5.
	for _, n := range []string{"c", "d"} {
		v.set(n, "failed")
		r.Dispatch(memberEvent(v, events.MemberFailed, n))
	}
	clustertest.WaitFor(t, 5*time.Second, "a brake event", func() bool { return strings.HasSuffix(v.emittedTypes(), "brake") })
	if !r.c.Status().Brake {
		t.Error("brake not engaged")
	}
	if !r.c.Release() || r.c.Status().Brake {
		t.Error("release did not lift the brake")
	}
}

func TestBrakeReleasesWhenEveryoneIsBack(t *testing.T) {
	v := newMemView("a", "a", "b", "c", "d", "e")
	r := newCoordRunner(t, v, Config{}, hook.Hook{Name: "h", Shell: "true", Filters: events.Filters{{Type: events.MemberFailed}}})
	for _, n := range []string{"c", "d", "e"} {
		v.set(n, "failed")
		r.Dispatch(memberEvent(v, events.MemberFailed, n))
	}
	if !r.c.Status().Brake {
		t.Fatal("brake not engaged by 3 of 5")
	}
	for i, n := range []string{"c", "d", "e"} {
		v.set(n, "alive")
		r.Dispatch(memberEvent(v, events.MemberJoin, n))
		if got, want := r.c.Status().Brake, i < 2; got != want {
			t.Fatalf("after %s returned: brake %v, want %v", n, got, want)
		}
	}
}
