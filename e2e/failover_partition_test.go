package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// quorumHook is a run_on: one failover hook with the default majority
// quorum, for any member's failure.
const quorumHook = `
hooks:
  - name: failover
    on: [member-failed]
    run_on: one
    settle: 2s
    shell: 'echo "$VIGIL_SELF_NAME $VIGIL_MEMBER_NAME $VIGIL_EVENT_ID" > "$OUT/failover-$VIGIL_MEMBER_NAME"'
`

// TestFailoverPartitionQuorum cuts five hosts 2|3. Each side sees the
// other failed; the minority, without a majority, runs no failover and
// records why; the majority runs the failover once for each minority
// member. After the heal the minority's held runs are dropped: the members
// are alive again, and nothing runs late.
func TestFailoverPartitionQuorum(t *testing.T) {
	skipShort(t)
	nw := clustertest.NewNetwork(t, 5)
	agents := nw.StartCluster(t, "-config", writeConfig(t, quorumHook), "-profile", "fast")
	minority, majority := agents[:2], agents[2:]
	nw.Partition([]int{0, 1}, []int{2, 3, 4})
	clustertest.AllSeeEach(t, detectWithin, agents, func(a *clustertest.Agent) map[string]string {
		if a.Host().Index() < 2 {
			return clustertest.Expect("alive", minority...).And("failed", majority...)
		}
		return clustertest.Expect("alive", majority...).And("failed", minority...)
	})

	// The majority runs one failover per minority member, on one agent.
	clustertest.Eventually(t, 30*time.Second, "one failover per minority member on the majority side", func() error {
		for _, m := range minority {
			ok := 0
			for _, a := range majority {
				for _, r := range runs(t, a, "failover")[m.Name] {
					if r.Outcome == "ok" {
						ok++
					}
				}
			}
			if ok != 1 {
				return fmt.Errorf("%d ok runs for %s, want 1", ok, m.Name)
			}
		}
		return nil
	})
	// The minority holds every failover for lack of quorum. A failure
	// seen before the others may first be recorded as skipped (a member
	// of the other side, still alive in this view, was chosen to run it);
	// it is held once quorum is gone. Nothing runs.
	for _, a := range minority {
		clustertest.Eventually(t, 20*time.Second, a.Name+" holding its failovers", func() error {
			rs := runs(t, a, "failover")
			for _, m := range majority {
				if len(rs[m.Name]) == 0 {
					return fmt.Errorf("no record for %s yet", m.Name)
				}
				for _, r := range rs[m.Name] {
					if r.Outcome != "held" && r.Outcome != "skipped" {
						t.Fatalf("%s on the minority side: failover for %s: %+v, want held for quorum", a.Name, m.Name, r)
					}
				}
				if last := rs[m.Name][len(rs[m.Name])-1]; last.Outcome != "held" || !strings.Contains(last.Reason, "no quorum") {
					return fmt.Errorf("failover for %s: last record %s (%s), want held for quorum", m.Name, last.Outcome, last.Reason)
				}
			}
			return nil
		})
		if f := a.OutFiles("failover-*"); len(f) != 0 {
			t.Errorf("%s on the minority side ran failovers: %v", a.Name, f)
		}
	}

	nw.Heal()
	clustertest.AllSeeEach(t, healWithin, agents, func(*clustertest.Agent) map[string]string {
		return clustertest.Expect("alive", agents...)
	})
	for _, a := range minority {
		clustertest.Eventually(t, 20*time.Second, a.Name+" dropping its held failovers", func() error {
			var st struct {
				Pending []any `json:"pending"`
			}
			if err := a.Get("/v1/failover", &st); err != nil {
				return err
			}
			if len(st.Pending) != 0 {
				return fmt.Errorf("%d failovers still pending", len(st.Pending))
			}
			return nil
		})
		if f := a.OutFiles("failover-*"); len(f) != 0 {
			t.Errorf("%s ran failovers after the heal: %v", a.Name, f)
		}
	}
}
