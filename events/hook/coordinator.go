package hook

import (
	"context"

	"github.com/vigil-agent/vigil/events"
)

// Coordinator is failover coordination as the runner sees it (package
// events/failover implements it): it sees every event first, takes the
// runs that need coordinating (run_on, quorum, settle, the failure
// guards), and hands each back to the runner when and where it is to run,
// with a RunGuard that ends the run when its claim is lost.
type Coordinator interface {
	// Observe sees every event before it is dispatched; true means the
	// event is coordination traffic that hooks must not see.
	Observe(ev *events.Event) bool
	// Guards reports whether runs of h for ev go through the coordinator.
	Guards(h *Hook, ev *events.Event) bool
	// Submit takes one run of the named hook that Guards selected.
	Submit(hook string, ev events.Event)
	// Resume takes a run_on: one run that the journal says the last stop
	// of the agent left unfinished.
	Resume(hook string, ev events.Event)
	// Finished is told how a run enqueued with a guard ended, after its
	// retries; OutcomeCancelled when it was killed or never started.
	Finished(hook string, ev *events.Event, guard RunGuard, final events.Run)
	// HooksChanged is told the hooks after a reload.
	HooksChanged(hooks []Hook)
}

// RunGuard watches one coordinated run.
type RunGuard interface {
	// Context ends when the run must stop: its claim was lost or given up.
	Context() context.Context
	// Lost reports whether the claim was lost (rather than given up by a
	// stopping agent).
	Lost() bool
}

// CoordinatedRunner is what a Coordinator may ask of the runner.
type CoordinatedRunner interface {
	// Enqueue queues ev for the named hook, with guard (nil for none); it
	// reports false when the run was dropped instead (recorded).
	Enqueue(hook string, ev events.Event, guard RunGuard) bool
	// Record records a decision (held, skipped, dropped) as a run of the
	// named hook.
	Record(hook string, ev *events.Event, run events.Run)
	// Hook returns the named hook's current definition.
	Hook(name string) (Hook, bool)
	// JournalQueued and JournalDone write a coordinated run's journal
	// lines, so a restart resumes a run still under way.
	JournalQueued(hook string, ev *events.Event)
	JournalDone(hook string, ev *events.Event)
}
