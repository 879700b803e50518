package hook

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/vigil-agent/vigil/events"
)

// Bounded hook storms.
//
// When many members fail at once (a rack, a partition, or an overloaded
// host that declares everyone failed) every member-failed hook runs once
// per member on every agent: 120,688 hook processes in one storm of a
// 200-agent benchmark, which kept the host's load at 600-700 long after
// the cause was gone. Two bounds keep such a storm small:
//
//   - The runner starts at most MaxConcurrent hook processes at a time,
//     over all hooks. A run over the limit waits for a slot (it is
//     counted in the hook's queue depth meanwhile, and dropped, recorded,
//     only if the agent stops first). Claimed failover runs (a run_on:
//     one hook's run, which holds a lease) never wait: they are one per
//     failure cluster-wide and already bounded by the failover guards.
//     In-process (built-in) hooks start no process and do not count.
//   - member-failed events for one ordinary hook are coalesced on the
//     leading edge: the first after a quiet spell starts its run at once
//     (with whatever member-failed events already wait right behind it);
//     the ones that arrive within CoalesceWindow of that run's start wait
//     until the window has passed and then run together, every member on
//     stdin (JSON's members array; serf's format has a line per member,
//     as a serf agent's coalesced events do). So a lone failure costs no
//     latency, and a storm costs at most one run per window per hook: its
//     first failure at once, the rest in batches a window apart. Each
//     event merged into another's run is recorded with the outcome
//     "coalesced", naming the event whose run it joined. A run_on: one
//     hook is never coalesced: the failover coordinator claims, fences
//     and runs it per failed member.

// DefaultCoalesceWindow is the agent's default hook_coalesce window.
const DefaultCoalesceWindow = 500 * time.Millisecond

// MaxCoalesced is the most events merged into one run; a storm larger
// than that runs in several.
const MaxCoalesced = 1024

// DefaultMaxConcurrent returns the default limit on concurrent hook
// processes: twice the CPUs Go may use, at least 4 (4 on 1 or 2 cores,
// 16 on 8).
func DefaultMaxConcurrent() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// acquireSlot waits for a process slot for a run of q's hook, unless the
// run needs none (a claimed failover run, a built-in hook, no limit). It
// returns the function that frees the slot, or false when ctx ended
// first.
func (r *Runner) acquireSlot(ctx context.Context, q *hookQueue, guard RunGuard) (func(), bool) {
	if r.slots == nil || guard != nil || q.hook.Builtin != nil {
		return func() {}, true
	}
	select {
	case r.slots <- struct{}{}:
		return func() { <-r.slots }, true
	default:
	}
	q.slotWait.Store(true)
	defer q.slotWait.Store(false)
	select {
	case r.slots <- struct{}{}:
		return func() { <-r.slots }, true
	case <-ctx.Done():
		return nil, false
	}
}

// coalescable reports whether qr may be merged with other member-failed
// events of q's hook.
func (r *Runner) coalescable(q *hookQueue, qr queuedRun) bool {
	return r.cfg.CoalesceWindow > 0 && qr.ev.Type == events.MemberFailed && qr.guard == nil &&
		q.hook.RunOn != RunOnOne && qr.ev.Fence == 0 && qr.ev.TakeoverFrom == ""
}

// coalesce returns the run for first, a member-failed event q's worker
// took: when a member-failed run of q's hook started less than
// CoalesceWindow ago it first waits until the window since that start has
// passed; it does not wait otherwise (the leading edge: a lone failure
// runs at once). Then it takes the member-failed events queued right
// behind first (up to MaxCoalesced in all; an event of another kind ends
// the batch, so the hook still sees events in order) and returns one
// event with all their members, and the events merged into it, each
// recorded as coalesced. With nothing to merge it returns first's event
// as it is.
func (r *Runner) coalesce(q *hookQueue, first queuedRun) (*events.Event, []*events.Event) {
	if wait := time.Until(q.lastCoalesced.Add(r.cfg.CoalesceWindow)); wait > 0 && !q.lastCoalesced.IsZero() {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
		}
	}
	q.lastCoalesced = time.Now()
	var merged []*events.Event
	q.mu.Lock()
	for len(merged)+1 < MaxCoalesced && len(q.pending) > 0 && r.coalescable(q, q.pending[0]) {
		merged = append(merged, q.pending[0].ev)
		q.pending[0] = queuedRun{}
		q.pending = q.pending[1:]
	}
	q.mu.Unlock()
	if len(merged) == 0 {
		return first.ev, nil
	}
	lead := *first.ev
	lead.Members = nil
	at := map[string]int{}
	for _, ev := range append([]*events.Event{first.ev}, merged...) {
		for _, m := range ev.Members {
			if i, seen := at[m.Name]; seen {
				lead.Members[i] = m // the newest word on a member
				continue
			}
			at[m.Name] = len(lead.Members)
			lead.Members = append(lead.Members, m)
		}
	}
	for _, ev := range merged {
		r.record(q.hook, ev, events.Run{Outcome: events.OutcomeCoalesced, ExitCode: -1,
			Reason: fmt.Sprintf("coalesced: run with event %d, %d member-failed events within %s in one run (%d members on stdin)",
				lead.ID, len(merged)+1, r.cfg.CoalesceWindow, len(lead.Members))})
	}
	r.cfg.Logger.Info().Str("hook", q.hook.Name).Uint64("event_id", lead.ID).Int("events", len(merged)+1).
		Int("members", len(lead.Members)).Msg("member-failed events coalesced into one hook run")
	return &lead, merged
}
