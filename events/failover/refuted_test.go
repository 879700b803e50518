package failover

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/hook"
	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestRefutedFailureNeverFailsOver: a refuted event (membership found the
// member alive when it checked it, confirm_failures) is never a failover,
// even for run_on: one and quorum hooks whose filters take every event:
// it is recorded as skipped, saying why, and the member-failed that
// follows for another member is still decided (run here, or left to the
// runner chosen elsewhere).
func TestRefutedFailureNeverFailsOver(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    hook.Hook
	}{
		{"run_on one, every event", hook.Hook{Name: "promote", Shell: "true", RunOn: hook.RunOnOne, Filters: events.Filters{{Any: true}}}},
		{"quorum, refuted and member-failed", hook.Hook{Name: "promote", Shell: "true", Quorum: true,
			Filters: events.Filters{{Type: events.Refuted}, {Type: events.MemberFailed}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newMemView("a", "a", "b", "c", "p", "q")
			r := newCoordRunner(t, v, Config{BrakeFraction: 1}, tt.h)
			ref := memberEvent(v, events.Refuted, "p")
			ref.RefutedBy = "direct"
			r.Dispatch(ref)
			v.set("q", "failed")
			r.Dispatch(memberEvent(v, events.MemberFailed, "q"))
			clustertest.WaitFor(t, 10*time.Second, "q's failure decided (have "+outcomesOf(r)+")", func() bool {
				for _, run := range r.Runs() {
					if run.Member == "q" && (run.Outcome == events.OutcomeOK || run.Outcome == events.OutcomeSkipped) {
						return true
					}
				}
				return false
			})
			var refuted int
			for _, run := range r.Runs() {
				if run.Member != "p" {
					continue
				}
				refuted++
				if run.Outcome != events.OutcomeSkipped || !strings.Contains(run.Reason, "refuted") {
					t.Errorf("run for the refuted member p: %+v", run)
				}
			}
			if refuted != 1 {
				t.Errorf("%d records for p, want 1 (skipped)", refuted)
			}
			for _, pd := range r.c.Status().Pending {
				if strings.HasPrefix(pd.Key, "p@") {
					t.Errorf("a failover pending for the refuted member: %+v", pd)
				}
			}
		})
	}
}
