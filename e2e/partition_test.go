package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// Timing of the local profile with 5 members (docs/architecture.md): a
// member is declared failed 3 s (two confirmations) to 18 s (none) after it
// is first suspected. serf tries to reconnect to a failed member every 30 s
// (ReconnectInterval), memberlist keeps gossiping to a dead member for 15 s
// (GossipToTheDeadTime).
const (
	// detectWithin bounds failure detection. The minority needs longest:
	// with two members left, a suspicion gets few confirmations and runs
	// its full 18 s (measured: 18-25 s), and Lifeguard slows the probes of
	// a member that misses acks.
	detectWithin = 60 * time.Second
	// healWithin is serf's 30 s reconnect interval, plus a push/pull and
	// gossip, with room for a loaded machine.
	healWithin = 90 * time.Second
	// holdAfterDetection keeps the partition past memberlist's 15 s of
	// gossip to the dead after the last failure was declared, so that
	// healing depends on serf's reconnect, as after any partition that
	// lasts.
	holdAfterDetection = 16 * time.Second
)

// TestFiveHosts: five agents in five namespaces, joined through the first,
// all see five alive members.
func TestFiveHosts(t *testing.T) {
	skipShort(t)
	nw := clustertest.NewNetwork(t, 5)
	agents := nw.StartCluster(t)
	for _, a := range agents {
		ms, err := a.Members()
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 5 {
			t.Errorf("%s knows %d members, want 5: %v", a.Name, len(ms), ms)
		}
		for _, m := range ms {
			if want := nw.Host(int(m.Name[1] - '0')).Addr(); m.Addr != want || m.Port != clustertest.AgentGossipPort || m.Status != "alive" {
				t.Errorf("%s sees %+v, want %s:%d alive", a.Name, m, want, clustertest.AgentGossipPort)
			}
		}
	}
}

// TestPartitionTwoThree cuts a five-member cluster into a minority of two
// and a majority of three. Each side must declare every member of the other
// side failed, once, and none of its own; the split must hold steady while
// it lasts. After the network heals, every agent must see all five alive
// again and report member-join, and run its member-join hook, once per
// member of the other side.
//
// Every agent also has a plain member-failed hook. The majority runs it for
// both minority members. The minority loses more than half the cluster,
// which engages the mass-failure brake: the runs it has not started by then
// are held (and dropped when the members come back), so the test only
// requires one run record per failure there, ok or held, and a file for
// each ok run. Which failovers a minority may run is the failover tests'
// business.
func TestPartitionTwoThree(t *testing.T) {
	skipShort(t)
	nw := clustertest.NewNetwork(t, 5)
	agents := nw.StartCluster(t, "-config", writeConfig(t, recordHooks))
	minority, majority := agents[:2], agents[2:]
	all := clustertest.Names(agents...)
	other := func(a *clustertest.Agent) []string {
		if a.Host().Index() < 2 {
			return clustertest.Names(majority...)
		}
		return clustertest.Names(minority...)
	}
	view := func(a *clustertest.Agent) clustertest.View {
		if a.Host().Index() < 2 {
			return clustertest.Expect("alive", minority...).And("failed", majority...)
		}
		return clustertest.Expect("alive", majority...).And("failed", minority...)
	}
	// Every agent has run its join hook for every member, itself included.
	waitSeen(t, 20*time.Second, agents, "join", func(*clustertest.Agent) counts { return each(1, all) })

	cut := time.Now()
	nw.Partition([]int{0, 1}, []int{2, 3, 4})
	took := clustertest.AllSeeEach(t, detectWithin, agents, func(a *clustertest.Agent) map[string]string { return view(a) })
	detected := time.Now()
	t.Logf("partition 2|3: each agent saw the other side failed after %s", durations(took))

	// Which side saw what: the events, then the hooks. A member-failed
	// event follows the member list by the agent's confirmation
	// (confirm_failures: a ping of its own and through others first).
	for _, a := range agents {
		clustertest.Eventually(t, 10*time.Second, a.Name+"'s member-failed events", func() error {
			if got, want := events(t, a, "member-failed"), each(1, other(a)); got.String() != want.String() {
				return fmt.Errorf("%s reported member-failed for %s, want %s", a.Name, got, want)
			}
			return nil
		})
	}
	for _, a := range agents {
		var held []string
		clustertest.Eventually(t, 10*time.Second, a.Name+"'s member-failed hook records", func() error {
			rs := runs(t, a, "on-failed")
			var ok []string
			held = held[:0]
			for _, n := range other(a) {
				if len(rs[n]) == 0 {
					return fmt.Errorf("no run for %s yet", n)
				}
			}
			for n, r := range rs {
				last := r[len(r)-1]
				switch {
				case !slices.Contains(other(a), n):
					t.Fatalf("%s ran its member-failed hook for %s, of its own side: %+v", a.Name, n, r)
				case last.Outcome == "ok":
					ok = append(ok, n)
				case last.Outcome == "held" && a.Host().Index() < 2:
					held = append(held, n+" ("+last.Reason+")")
				default:
					t.Fatalf("%s: member-failed hook for %s: %+v", a.Name, n, r)
				}
			}
			if got, want := seen(t, a, "failed"), each(1, ok); got.String() != want.String() {
				return fmt.Errorf("files for %s, want %s (the ok runs)", got, want)
			}
			return nil
		})
		if len(held) > 0 {
			slices.Sort(held)
			t.Logf("%s held its member-failed hook for %s", a.Name, strings.Join(held, ", "))
		}
	}
	checkRunsOK(t, majority, "on-failed")

	// The partition holds: nobody flaps, fails its own side or rejoins.
	failedFiles := map[string]string{}
	for _, a := range agents {
		failedFiles[a.Name] = seen(t, a, "failed").String()
	}
	time.Sleep(holdAfterDetection - time.Since(detected))
	for _, a := range agents {
		clustertest.AllSee(t, 0, []*clustertest.Agent{a}, view(a))
		if got, want := events(t, a, "member-failed"), each(1, other(a)); got.String() != want.String() {
			t.Errorf("%s reported member-failed for %s by the end of the partition, want %s", a.Name, got, want)
		}
		if got, want := events(t, a, "member-join"), each(1, all); got.String() != want.String() {
			t.Errorf("%s reported member-join for %s by the end of the partition, want %s (from the start)", a.Name, got, want)
		}
		if got := seen(t, a, "failed").String(); got != failedFiles[a.Name] {
			t.Errorf("%s's member-failed hook ran for %s by the end of the partition, %s after detection", a.Name, got, failedFiles[a.Name])
		}
	}

	healed := time.Now()
	nw.Heal()
	took = clustertest.AllSeeEach(t, healWithin, agents, func(*clustertest.Agent) map[string]string {
		return clustertest.Expect("alive", agents...)
	})
	t.Logf("healed after %s of partition (%s after detection); each agent saw all five alive after %s",
		healed.Sub(cut).Round(100*time.Millisecond), healed.Sub(detected).Round(100*time.Millisecond), durations(took))

	// Each side reported member-join, and ran its hook, once more for
	// every member of the other side.
	rejoined := func(a *clustertest.Agent) counts {
		c := each(1, all)
		for _, n := range other(a) {
			c[n] = 2
		}
		return c
	}
	waitSeen(t, 10*time.Second, agents, "join", rejoined)
	for _, a := range agents {
		if got, want := events(t, a, "member-join"), rejoined(a); got.String() != want.String() {
			t.Errorf("%s reported member-join for %s, want %s", a.Name, got, want)
		}
		if got, want := events(t, a, "member-failed"), each(1, other(a)); got.String() != want.String() {
			t.Errorf("%s reported member-failed for %s after the heal, want %s", a.Name, got, want)
		}
		if got := seen(t, a, "failed").String(); got != failedFiles[a.Name] {
			t.Errorf("%s's member-failed hook ran for %s after the heal, want %s", a.Name, got, failedFiles[a.Name])
		}
		var st struct {
			Brake bool `json:"brake"`
		}
		if err := a.Get("/v1/failover", &st); err == nil {
			t.Logf("%s after the heal: mass-failure brake engaged=%v", a.Name, st.Brake)
		}
	}
	checkRunsOK(t, agents, "on-join")
}

// TestOneWayLinkFault: when packets from h0 to h1 are lost but the rest of
// the network works, gossip's indirect probes keep both alive: no agent may
// declare anyone failed or run a member-failed hook.
func TestOneWayLinkFault(t *testing.T) {
	skipShort(t)
	nw := clustertest.NewNetwork(t, 5)
	agents := nw.StartCluster(t, "-config", writeConfig(t, recordHooks))
	nw.Block(0, 1)
	// Long enough for many probe rounds and the longest suspicion timeout.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range agents {
			if c := seen(t, a, "failed"); len(c) > 0 {
				t.Fatalf("%s declared %s failed over a one-way fault h0→h1", a.Name, c)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	clustertest.AllSee(t, 0, agents, clustertest.Expect("alive", agents...))
	nw.Heal()
	suspicions := 0
	for _, a := range agents {
		suspicions += strings.Count(a.Log(), "memberlist: Suspect ")
	}
	t.Logf("%d suspicions raised and refuted during the one-way fault", suspicions)
	checkRunsOK(t, agents, "on-failed")
}
