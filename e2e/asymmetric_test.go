package e2e

import (
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestReceiveDeadHost: host h4 can still send but receives nothing (every
// packet to it is dropped on arrival: a broken receive path, a firewall
// that lets only outbound traffic through). The others must declare h4
// failed, once each, and nobody else: h4 goes on probing them, never hears
// an ack, suspects them all and, when its suspicions run out, gossips
// their deaths, but each of them hears its own suspicion, refutes it with
// a newer incarnation and re-announces itself twice more, so the other
// hosts' copies of the suspicion end and h4's late death notices carry an
// old incarnation. (Before vigil re-announced, the refutation's two
// copies under the local profile sometimes missed a host that had adopted
// the suspicion, which then declared a live member failed: 2 runs in 6 on
// a loaded machine, docs/reliability.md Limits 3.) After the fault ends,
// h4 rejoins and member-join fires for it everywhere.
func TestReceiveDeadHost(t *testing.T) {
	skipShort(t)
	nw := clustertest.NewNetwork(t, 5)
	agents := nw.StartCluster(t, "-config", writeConfig(t, recordHooks))
	const deaf = 4
	others := agents[:deaf]
	for i := range others {
		nw.Block(i, deaf)
	}
	t.Logf("cuts: %s", nw.Cuts())

	noFalseFailure := func() {
		t.Helper()
		for _, a := range others {
			if c := seen(t, a, "failed"); len(c.only(clustertest.Names(others...))) > 0 {
				t.Fatalf("%s declared %v failed while only h%d had lost its receive path", a.Name, c, deaf)
			}
		}
	}
	detected := clustertest.WaitFor(t, detectWithin, "every other host to declare h4 failed", func() bool {
		noFalseFailure()
		for _, a := range others {
			if seen(t, a, "failed")[agents[deaf].Name] == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("h%d declared failed by all others %s after its receive path was cut", deaf, detected.Round(time.Millisecond))

	// h4's own suspicions of the others run their full course (nobody
	// confirms them to it and it cannot hear refutations): the local
	// profile's longest with 5 members is 18 s, stretched by Lifeguard as
	// h4 keeps missing acks. Watch past that.
	hold := time.Now().Add(25 * time.Second)
	for time.Now().Before(hold) {
		noFalseFailure()
		time.Sleep(500 * time.Millisecond)
	}
	for _, a := range others {
		c := seen(t, a, "failed")
		if c[agents[deaf].Name] != 1 || len(c) != 1 {
			t.Errorf("%s ran member-failed %v, want once for %s only", a.Name, c, agents[deaf].Name)
		}
	}
	clustertest.AllSee(t, 0, others, clustertest.Expect("alive", others...).And("failed", agents[deaf]))
	deafView, _ := agents[deaf].Statuses()
	t.Logf("h%d's own view while deaf: %v (its member-failed hook ran for %v)", deaf, deafView, seen(t, agents[deaf], "failed"))

	nw.Heal()
	healed := clustertest.AllSee(t, healWithin, agents, clustertest.Expect("alive", agents...))
	t.Logf("healed: all five alive everywhere %s after the heal", healed.Round(time.Millisecond))
	waitSeen(t, 30*time.Second, others, "join", func(a *clustertest.Agent) counts {
		// member-join at start for every member (itself included), and
		// once more for h4 when it came back.
		want := each(1, clustertest.Names(agents...))
		want[agents[deaf].Name] = 2
		return want
	})
	checkRunsOK(t, others, "on-failed")
	clustertest.Report(t, clustertest.ReportRow{
		Fault:  "host that sends but cannot receive (5 namespaces, local)",
		Trials: 1, Expected: len(others), Seen: len(others),
		Note: "the deaf host declared failed by every other host once; no other member declared failed; it rejoins after the fault",
	})
}
