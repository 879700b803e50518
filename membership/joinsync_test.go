package membership

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/internal/clustertest"
	"github.com/vigil-agent/vigil/internal/faultnet"
)

// syncPushPull is the push/pull interval of the join anti-entropy tests:
// far past their deadlines, so that only the anti-entropy (or gossip) can
// explain a convergence.
const syncPushPull = 10 * time.Minute

// syncNet is an in-process test network of members on faulty transports
// of one Faults, with the fast profile and a push/pull interval of
// syncPushPull.
type syncNet struct {
	t      *testing.T
	faults *faultnet.Faults
	rounds int // JoinSyncRounds of every member
	logger zerolog.Logger
	// noRestartReannounce turns a restart's re-announcements off,
	// noRejoinCheck the rejoin checks.
	noRestartReannounce, noRejoinCheck bool
	// noRounds names members started without rounds of syncs.
	noRounds map[string]bool
}

func newSyncNet(t *testing.T, rounds int, seed uint64) *syncNet {
	var w io.Writer = io.Discard
	if os.Getenv("LOSS_DEBUG") != "" {
		w = os.Stderr
	}
	return &syncNet{t: t, faults: faultnet.NewFaults(seed), rounds: rounds,
		logger: zerolog.New(w).With().Timestamp().Logger().Level(zerolog.DebugLevel)}
}

// start starts a member named name on port (0: any free port) without
// joining anyone.
func (sn *syncNet) start(name string, port int) *lossMember {
	t := sn.t
	t.Helper()
	tr, err := faultnet.NewFaultyNetTransport(sn.faults, "127.0.0.1", port, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &lossMember{name: name, addr: tr.Addr()}
	cfg := Config{NodeName: name, ClusterName: clustertest.ClusterName(), BindAddr: "127.0.0.1", BindPort: tr.Port(), Profile: ProfileFast,
		Logger: sn.logger.With().Str("node", name).Logger(), Transport: tr,
		JoinSyncRounds: sn.rounds, pushPullInterval: syncPushPull, noRestartReannounce: sn.noRestartReannounce, noRejoinCheck: sn.noRejoinCheck}
	if sn.noRounds[name] {
		cfg.JoinSyncRounds = 0
	}
	m.c = startTest(t, cfg, m.handle)
	return m
}

// startTest starts a cluster on cfg.Transport, handing its events to
// handle: the transport is shut down if the start fails, the cluster when
// the test ends.
func startTest(t *testing.T, cfg Config, handle func(events.Event)) *Cluster {
	t.Helper()
	c, err := Start(cfg, handle)
	if err != nil {
		_ = cfg.Transport.Shutdown()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return c
}

// stillApart asserts, for a test run without join anti-entropy, that the
// members' views stay apart for 4 s (nothing but a push/pull, minutes
// away, could bring them together), and logs how.
func stillApart(t *testing.T, all []*lossMember) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if len(viewsLacking(all)) == 0 {
			t.Fatalf("converged without anti-entropy: the test does not lose the gossip it means to")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("still apart after 4 s: %s", strings.Join(viewsLacking(all), ", "))
}

// join joins m to addr.
func (sn *syncNet) join(m *lossMember, addr string) {
	sn.t.Helper()
	if _, err := m.c.Join([]string{addr}); err != nil {
		sn.t.Fatal(err)
	}
}

// viewsLacking returns "A sees B STATUS" for every member of ms whose view
// does not have every member of ms alive, sorted.
func viewsLacking(ms []*lossMember) []string {
	var bad []string
	for _, m := range ms {
		got := m.statuses()
		for _, o := range ms {
			if got[o.name] != "alive" {
				bad = append(bad, fmt.Sprintf("%s sees %s %q", m.name, o.name, got[o.name]))
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// waitConverged waits up to d for every view to have every member alive.
func waitConverged(t *testing.T, d time.Duration, ms []*lossMember) time.Duration {
	t.Helper()
	return clustertest.Eventually(t, d, "every view to list every member alive", func() error {
		if bad := viewsLacking(ms); len(bad) > 0 {
			return fmt.Errorf("%s", strings.Join(bad, ", "))
		}
		return nil
	})
}

// startConverged starts n members (m00 first, the others joining it) on
// a perfect network and waits until every view has all of them alive.
func (sn *syncNet) startConverged(n int) []*lossMember {
	sn.t.Helper()
	var ms []*lossMember
	for i := range n {
		m := sn.start(fmt.Sprintf("m%02d", i), 0)
		if i > 0 {
			sn.join(m, ms[0].addr)
		}
		ms = append(ms, m)
	}
	waitConverged(sn.t, 15*time.Second, ms)
	return ms
}

// TestJoinSyncConverges: a cluster whose push/pull interval is ten
// minutes, on the fast profile. Every UDP packet (all gossip: the alive
// messages of a join, its re-gossip, serf's join intents) is lost for a
// moment around a join; joins and push/pulls go over TCP and get through.
// With the join anti-entropy every view lists every member alive within
// seconds; without it the members that missed the gossip never learn of
// the join before the next push/pull, minutes later.
func TestJoinSyncConverges(t *testing.T) {
	for _, tt := range []struct {
		name    string
		rounds  int
		joiners int           // new members joining the seed at once
		loss    float64       // UDP loss on every link around the join
		lossFor time.Duration // how long the loss lasts after the joins
	}{
		{"one joiner, its gossip lost", DefaultJoinSyncRounds, 1, 1, 600 * time.Millisecond},
		{"four joiners through one seed, half the gossip lost", DefaultJoinSyncRounds, 4, 0.5, 2 * time.Second},
		{"without anti-entropy the gossip lost is missed", 0, 1, 1, 600 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sn := newSyncNet(t, tt.rounds, 13)
			ms := sn.startConverged(5)
			sn.faults.SetAll(faultnet.LinkFaults{Loss: tt.loss})
			var joiners []*lossMember
			for i := range tt.joiners {
				joiners = append(joiners, sn.start(fmt.Sprintf("j%02d", i), 0))
			}
			for _, j := range joiners {
				go func() { _, _ = j.c.Join([]string{ms[0].addr}) }()
			}
			all := append(ms, joiners...)
			// Every joiner has joined (its view has the seed) before the
			// loss ends.
			clustertest.Eventually(t, 5*time.Second, "the joins", func() error {
				for _, j := range joiners {
					if j.statuses()[ms[0].name] != "alive" {
						return fmt.Errorf("%s has not joined", j.name)
					}
				}
				return nil
			})
			time.Sleep(tt.lossFor) // the loss lasts this long: a fault, not a wait
			sn.faults.Clear()
			if tt.rounds == 0 {
				// Gossip is over (its retransmits went out into the loss):
				// nothing but a push/pull, minutes away, can still bring
				// the join to the members that missed it.
				stillApart(t, all)
				return
			}
			took := waitConverged(t, 10*time.Second, all)
			var syncs uint64
			for _, j := range joiners {
				syncs += j.c.joinSyncs.Load()
			}
			t.Logf("converged %s after the loss ended; %d state syncs by the joiners so far", took.Round(time.Millisecond), syncs)
		})
	}
}

// TestJoinSyncRejoinAfterLeave: a member leaves gracefully and starts
// again under its name and address, joining one seed, while all gossip is
// lost for a moment (its refutation of the "left" state and the
// re-announcements after it with it). With the join anti-entropy every
// view lists it alive again within seconds; the push/pull interval is ten
// minutes.
func TestJoinSyncRejoinAfterLeave(t *testing.T) {
	for _, tt := range []struct {
		name    string
		rounds  int
		loss    float64
		lossFor time.Duration
	}{
		{"perfect network", DefaultJoinSyncRounds, 0, 0},
		{"gossip lost around the rejoin", DefaultJoinSyncRounds, 1, 800 * time.Millisecond},
		{"without anti-entropy the gossip lost is missed", 0, 1, 800 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sn := newSyncNet(t, tt.rounds, 17)
			ms := sn.startConverged(6)
			x := ms[5]
			port := x.c.serf.LocalMember().Port
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := x.c.Leave(ctx); err != nil {
				t.Fatal(err)
			}
			clustertest.Eventually(t, 10*time.Second, "every member to see m05 left", func() error {
				for _, m := range ms[:5] {
					if s := m.statuses()["m05"]; s != "left" {
						return fmt.Errorf("%s sees m05 %q", m.name, s)
					}
				}
				return nil
			})
			sn.faults.SetAll(faultnet.LinkFaults{Loss: tt.loss})
			x2 := sn.start("m05", int(port))
			sn.join(x2, ms[0].addr)
			time.Sleep(tt.lossFor) // the loss lasts this long: a fault, not a wait
			sn.faults.Clear()
			all := append(ms[:5:5], x2)
			if tt.rounds == 0 {
				stillApart(t, all)
				return
			}
			took := waitConverged(t, 8*time.Second, all)
			t.Logf("m05 alive in every view %s after the loss ended (%d state syncs)", took.Round(time.Millisecond), x2.c.joinSyncs.Load())
		})
	}
}

// TestJoinSyncRestartMissedByOne: m05 leaves gracefully and starts again
// under its name; one member (m01, which runs no rounds of syncs of its
// own) loses every UDP packet sent to it while the join's alive message
// and its copies spread, and never exchanges state with m05 (every dial
// between them fails), so m05's rounds of push/pulls cannot bring it the
// new life. The join is recognised as a restart (the member joined listed
// m05's name). Its re-announcements in its first two rounds reach m01
// once the loss ends, and so do its rejoin checks (after the first round
// and the last), m01's answer making m05 join it again, and a check that
// repaired is followed by another: with either, m01 lists m05 alive
// again. The controls: without
// both, and without anti-entropy at all, m01 keeps m05 left (the test
// loses what it means to); a control whose other members
// ran rounds of their own meanwhile (refutations on a loaded machine: one
// of them may push and pull with m01), or that ran while timers were late
// (gossip retransmissions outlast the loss), proves nothing and skips,
// saying why.
func TestJoinSyncRestartMissedByOne(t *testing.T) {
	for _, tt := range []struct {
		name         string
		rounds       int
		noReannounce bool
		noCheck      bool
		converges    bool
	}{
		{"restart re-announced and checked", DefaultJoinSyncRounds, false, false, true},
		{"the rejoin check alone repairs it", DefaultJoinSyncRounds, true, false, true},
		{"the re-announcements alone reach it", DefaultJoinSyncRounds, false, true, true},
		{"rounds without re-announcements or checks miss it", DefaultJoinSyncRounds, true, true, false},
		{"without anti-entropy the member that missed it keeps the old life", 0, false, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sn := newSyncNet(t, tt.rounds, 23)
			sn.noRestartReannounce = tt.noReannounce
			sn.noRejoinCheck = tt.noCheck
			sn.noRounds = map[string]bool{"m01": true}
			ms := sn.startConverged(6)
			x, v := ms[5], ms[1]
			port := x.c.serf.LocalMember().Port
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := x.c.Leave(ctx); err != nil {
				t.Fatal(err)
			}
			leftAt := time.Now()
			clustertest.Eventually(t, 10*time.Second, "every member to see m05 left", func() error {
				for _, m := range ms[:5] {
					if s := m.statuses()["m05"]; s != "left" {
						return fmt.Errorf("%s sees m05 %q", m.name, s)
					}
				}
				return nil
			})
			// The others' rounds after their own joins could push and pull
			// with m01: let them end (they may go on under load, after
			// refutations: then the controls say they prove nothing). Not
			// longer than 4 s: memberlist forgets a left member
			// GossipToTheDeadTime after it left (10 s on fast), and then
			// the join cannot tell a restart (a -count=3 run under load).
			_, _ = clustertest.Poll(4*time.Second, 100*time.Millisecond, func() (bool, error) {
				for _, m := range ms[:5] {
					if m.c.joinSyncBusy.Load() {
						return false, nil
					}
				}
				return true, nil
			})
			for _, m := range ms {
				if m != v {
					sn.faults.SetLink(m.addr, v.addr, faultnet.LinkFaults{Loss: 1})
				}
			}
			sn.faults.SetLink(x.addr, v.addr, faultnet.LinkFaults{Loss: 1, DialLoss: 1})
			sn.faults.SetLink(v.addr, x.addr, faultnet.LinkFaults{DialLoss: 1})
			othersSynced := func() (n uint64) {
				for _, m := range ms[:5] {
					n += m.c.joinSyncs.Load()
				}
				return n
			}
			before := othersSynced()
			if d := time.Since(leftAt); d > 7*time.Second {
				t.Skipf("%s from the leave to the restart on this loaded machine: memberlist forgets a left member 10 s after it left (fast), so the join could not tell a restart", d.Round(time.Millisecond))
			}
			x2 := sn.start("m05", int(port))
			sn.join(x2, ms[0].addr)
			if !x2.c.knownBefore.Load() {
				t.Fatalf("the join was not recognised as a restart (m00 listed m05's previous life)")
			}
			// The join's alive message spreads in a few 100 ms gossip rounds
			// (fast profile) and its copies left in the queues piggyback on
			// probes for a while after: 500 ms of loss were not enough to
			// make m01 miss them all. The first round of syncs comes 0.8-1.2 s
			// after the join, the second 1.2-1.8 s later.
			// The loss lasts this long (a fault, not a wait), in 100 ms
			// steps that measure how late this machine runs timers: on a
			// loaded one memberlist's gossip ticks run late too, and copies
			// of the join's alive message may still go out after the loss.
			var late time.Duration
			for range 15 {
				t0 := time.Now()
				time.Sleep(100 * time.Millisecond)
				late = max(late, time.Since(t0)-100*time.Millisecond)
			}
			for _, m := range ms {
				if m != v {
					sn.faults.SetLink(m.addr, v.addr, faultnet.LinkFaults{})
				}
			}
			sn.faults.SetLink(x.addr, v.addr, faultnet.LinkFaults{DialLoss: 1})
			reannouncedInLoss := x2.c.reannounced.Load()
			if !tt.noCheck && tt.rounds > 0 {
				// m05's dials to m01 stay lost until a rejoin check
				// sent after the loss (the one after its last round, or
				// one that follows a repair), so that its rounds do not
				// reach m01 by chance; the check's repair is a join.
				checksInLoss := x2.c.rejoinChecks.Load()
				_, _ = clustertest.Poll(10*time.Second, 10*time.Millisecond, func() (bool, error) {
					return x2.c.rejoinChecks.Load() > checksInLoss, nil
				})
				sn.faults.SetLink(x.addr, v.addr, faultnet.LinkFaults{})
			}
			all := append(ms[:5:5], x2)
			if !tt.converges {
				deadline := time.Now().Add(4 * time.Second)
				for time.Now().Before(deadline) {
					if len(viewsLacking(all)) == 0 {
						if n := othersSynced() - before; n > 0 {
							t.Skipf("control inconclusive: the other members ran %d syncs of their own meanwhile (refutations under load)", n)
						}
						if late > 20*time.Millisecond {
							// A -count=3 run of every package, e2e beside.
							t.Skipf("control inconclusive: timers ran up to %s late during the loss (a loaded machine), so copies of the join's alive message could still be gossiped after it", late.Round(time.Millisecond))
						}
						t.Fatalf("converged without the re-announcements (timers at most %s late during the loss): the test does not lose the gossip it means to", late.Round(time.Millisecond))
					}
					time.Sleep(100 * time.Millisecond)
				}
				t.Logf("still apart after 4 s: %s", strings.Join(viewsLacking(all), ", "))
				return
			}
			if tt.noCheck && late > 20*time.Millisecond && reannouncedInLoss >= joinSyncReannounceRounds {
				// The premise is that a re-announcement comes after the
				// loss: on a loaded machine both rounds can fall inside it
				// (a -count=3 run of every package). The product gap this
				// shows (nothing else repairs a member that missed both)
				// is in the closing notes of issue 13.
				t.Skipf("both re-announcements went out during the loss (timers ran up to %s late): the test's premise did not hold", late.Round(time.Millisecond))
			}
			took := waitConverged(t, 8*time.Second, all)
			t.Logf("m05 alive in every view %s after the loss ended (%d state syncs, %d re-announcements, %d rejoin checks, %d answered by m01, %d members joined again)",
				took.Round(time.Millisecond), x2.c.joinSyncs.Load(), x2.c.reannounced.Load(), x2.c.rejoinChecks.Load(), v.c.rejoinAnswers.Load(), x2.c.rejoinRepairs.Load())
			if tt.noReannounce && v.c.rejoinAnswers.Load() == 0 && othersSynced() == before {
				t.Errorf("m01 took m05's new life before the rejoin check, without the re-announcements: the test does not lose what it means to")
			}
			if v.c.rejoinAnswers.Load() > 0 {
				// A check that repaired a member is followed by another,
				// which nobody answers: that ends the chain.
				clustertest.Eventually(t, rejoinRecheckDelay+5*time.Second, "a rejoin check to follow the repair", func() error {
					if n := x2.c.rejoinFollowUps.Load(); n == 0 {
						return fmt.Errorf("no check followed the repair (%d checks, %d members joined again)", x2.c.rejoinChecks.Load(), x2.c.rejoinRepairs.Load())
					}
					return nil
				})
				if n := x2.c.rejoinFollowUps.Load(); n > rejoinRechecks {
					t.Errorf("%d checks followed repairs, want at most %d", n, rejoinRechecks)
				}
			}
		})
	}
}

// TestJoinSyncNextStable: the rounds stop after joinSyncStable unchanged
// rounds that each reached a peer; a round whose syncs all failed neither
// counts nor resets the count, and a change resets it.
func TestJoinSyncNextStable(t *testing.T) {
	for _, tt := range []struct {
		stable  int
		changed bool
		synced  int
		want    int
	}{
		{0, false, 2, 1},
		{1, false, 1, 2},
		{1, false, 0, 1}, // every sync failed: no evidence either way
		{0, false, 0, 0},
		{1, true, 2, 0},
		{1, true, 0, 0}, // gossip changed the view meanwhile
	} {
		if got := nextStable(tt.stable, tt.changed, tt.synced); got != tt.want {
			t.Errorf("nextStable(%d, changed %v, synced %d) = %d, want %d", tt.stable, tt.changed, tt.synced, got, tt.want)
		}
	}
}

// TestJoinSyncGaps: the rounds back off from a second by 1.5× up to 8 s.
func TestJoinSyncGaps(t *testing.T) {
	for _, tt := range []struct {
		rounds int
		want   []time.Duration
	}{
		{0, []time.Duration{}},
		{3, []time.Duration{time.Second, 1500 * time.Millisecond, 2250 * time.Millisecond}},
		{8, []time.Duration{time.Second, 1500 * time.Millisecond, 2250 * time.Millisecond, 3375 * time.Millisecond,
			5062500 * time.Microsecond, 7593750 * time.Microsecond, 8 * time.Second, 8 * time.Second}},
	} {
		got := joinSyncGaps(tt.rounds)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("joinSyncGaps(%d) = %v, want %v", tt.rounds, got, tt.want)
		}
		for range 100 {
			for _, g := range got {
				if j := jittered(g); j < g*8/10 || j > g*12/10 {
					t.Fatalf("jittered(%s) = %s, outside ±20%%", g, j)
				}
			}
		}
	}
}

// TestListsPreviousLife: a join counts as a restart when the peer lists
// this member's name with another boot tag (a previous start), or with
// any tags when this member has no boot tag; a peer that lists this
// start's boot tag learnt it from an earlier attempt of the same join.
func TestListsPreviousLife(t *testing.T) {
	self := serf.Member{Name: "db-2", Tags: map[string]string{events.BootTag: "b2"}}
	for _, tc := range []struct {
		name  string
		self  serf.Member
		peers []*serf.Member
		want  bool
	}{
		{"previous start", self, []*serf.Member{{Name: "db-1"}, {Name: "db-2", Tags: map[string]string{events.BootTag: "b1"}}}, true},
		{"this start, from a retried join", self, []*serf.Member{{Name: "db-1"}, {Name: "db-2", Tags: map[string]string{events.BootTag: "b2"}}}, false},
		{"not listed", self, []*serf.Member{{Name: "db-1"}, {Name: "db-3"}}, false},
		{"no boot tag: listed at all", serf.Member{Name: "db-2"}, []*serf.Member{{Name: "db-1"}, {Name: "db-2"}}, true},
	} {
		if got := listsPreviousLife(tc.peers, tc.self); got != tc.want {
			t.Errorf("%s: listsPreviousLife = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRejoinCheckPlan: a restart (a join whose peers knew the member's
// name, a rejoin through the data dir's peers) checks after its first
// round and checks its repairs again; any other rejoin (a refutation, a
// peer's prompt) checks after its second round, once.
func TestRejoinCheckPlan(t *testing.T) {
	for _, tt := range []struct {
		why             string
		first, rechecks int
	}{
		{joinSyncRestarted, 1, rejoinRechecks},
		{joinSyncDataDir, 1, rejoinRechecks},
		{"refuted a dead message", 2, 0},
		{"a peer found this member alive after its failure", 2, 0},
	} {
		if first, rechecks := rejoinCheckPlan(tt.why); first != tt.first || rechecks != tt.rechecks {
			t.Errorf("rejoinCheckPlan(%q) = after round %d, %d rechecks; want %d, %d", tt.why, first, rechecks, tt.first, tt.rechecks)
		}
	}
}
