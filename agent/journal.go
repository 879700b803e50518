package agent

import (
	"context"
	"time"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/hook"
	"github.com/vigil-agent/vigil/events/journal"
)

// resumeDelay is how long after start the agent waits, for its member
// view to fill in (join, snapshot rejoin, push/pull), before it examines
// the runs its last stop left unfinished.
const resumeDelay = 3 * time.Second

// resumeJournal re-runs, after resumeDelay, the journal's unfinished runs
// whose events still hold.
func (a *Agent) resumeJournal(ctx context.Context, pending []journal.Entry) {
	if len(pending) == 0 {
		return
	}
	a.log.Info().Int("runs", len(pending)).Dur("after", resumeDelay).Msg("the last stop left hook runs unfinished; examining them once the view settles")
	t := time.NewTimer(resumeDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	runs := make([]hook.Pending, 0, len(pending))
	for _, p := range pending {
		runs = append(runs, hook.Pending{Hook: p.Hook, Event: *p.Event})
	}
	a.runner.Resume(runs, a.eventHolds)
}

// eventHolds reports whether an event from before a restart still holds:
// its member is still in the state the event reported. An unknown member
// counts as holding, so a run is repeated rather than lost.
func (a *Agent) eventHolds(ev *events.Event) (bool, string) {
	m, ok := ev.Subject()
	if !ok || !ev.Type.IsMember() {
		return true, ""
	}
	var cur *events.Member
	for _, x := range a.Members() {
		if x.Name == m.Name {
			cur = &x
			break
		}
	}
	if cur == nil {
		return true, ""
	}
	want := map[events.Type]events.MemberStatus{
		events.MemberJoin: events.StatusAlive, events.MemberUpdate: events.StatusAlive,
		events.MemberFailed: events.StatusFailed, events.MemberLeave: events.StatusLeft,
	}[ev.Type]
	if want == "" || cur.Status == want {
		return true, ""
	}
	return false, "member " + m.Name + " is " + string(cur.Status) + " now"
}
