package failover

import (
	"context"
	"fmt"
	"time"
)

// TaskID names one failover task the same way on every agent: the hook
// and the failure's cluster-wide key.
type TaskID struct {
	// Hook is the hook's name.
	Hook string `json:"hook"`
	// Key is the failure's cluster-wide key (VIGIL_EVENT_ID).
	Key string `json:"key"`
}

func (t TaskID) String() string { return t.Hook + "/" + t.Key }

// Lock grants the right to run a task to one agent at a time.
type Lock interface {
	// Acquire claims task for this agent. It returns a Lease, or one of
	// *DoneError (the task was completed), *HeldError (another agent
	// holds a live lease), *NoMajorityError (too few granted) or
	// *UnavailableError (the lock's store cannot be reached).
	Acquire(ctx context.Context, task TaskID, opts ClaimOptions) (Lease, error)
}

// ClaimOptions qualify a claim.
type ClaimOptions struct {
	// AliveOnly (a hook with quorum: none): a gossip claim needs a
	// majority of the members this agent sees alive, not of every member
	// that has not left: it runs in a minority too, and its fences are
	// only as good as the views agree.
	AliveOnly bool
	// Subject and Life name the failed member and its life (BOOT.EPOCH
	// tags) at the failure: a gossip granter that sees the subject alive
	// refuses a new claim.
	Subject, Life string
}

// BackError says the claim was refused because members see the failed
// member alive again.
type BackError struct {
	// Subject is the member; Seen counts the granters that see it back.
	Subject string
	Seen    int
}

func (e *BackError) Error() string {
	return fmt.Sprintf("%d members see %s alive again: the claim is refused", e.Seen, e.Subject)
}

// Lease is the right to run one task, granted with a fence.
type Lease interface {
	// Fence is the fencing token: every grant of the task gets a larger
	// one than every earlier grant.
	Fence() uint64
	// Lost is closed when the lease could not be renewed in time: the
	// run must be stopped at once, since another agent may take over as
	// soon as the lease expires.
	Lost() <-chan struct{}
	// Complete records that the run ended, so no one runs the task again,
	// and stops renewing. A completion with a stale fence is refused.
	Complete(ctx context.Context, outcome string) error
	// Release gives the task up unfinished, so another agent may take it
	// over at once, and stops renewing.
	Release(ctx context.Context)
	// LeaseDeadline returns when the run must have stopped unless a
	// renewal moves it, and a channel closed when it moves (the hook
	// guard process is told each deadline).
	LeaseDeadline() (time.Time, <-chan struct{})
	// MarkLost ends the lease at once, as if it could not be renewed:
	// the hook guard killed the run because its deadline passed.
	MarkLost(why string)
}

// GuardCompleter is a Lease whose completion the hook guard process can
// record by itself, without the agent: when the hook exits 0 while the
// agent is stopped (SIGSTOP, a paused container), the completion still
// reaches the lock before the lease can expire and another agent take
// over. The etcd lock is one; the gossip claim is not (recording needs
// the agent's gossip).
type GuardCompleter interface {
	// GuardCompletion returns the kind registered with hook.GuardEntry
	// and the spec it is handed (secrets included: it travels on a pipe
	// to the guard, never in its environment or arguments).
	GuardCompletion() (kind string, spec []byte)
}

// DoneError says the task was completed already.
type DoneError struct {
	// Runner is the agent that completed it.
	Runner string
	// Fence is the completed run's fence.
	Fence uint64
	// Outcome is how the run ended (ok, failed, timeout, error).
	Outcome string
}

func (e *DoneError) Error() string {
	return fmt.Sprintf("already run by %s (fence %d, outcome %s)", e.Runner, e.Fence, e.Outcome)
}

// HeldError says another agent holds a live lease on the task.
type HeldError struct {
	// Holder is the agent that holds it.
	Holder string
	// Fence is the holder's fence.
	Fence uint64
	// Left is how long its lease has left at most, from the refusal.
	Left time.Duration
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("claimed by %s (fence %d) for up to %s more", e.Holder, e.Fence, e.Left.Round(time.Millisecond))
}

// NoMajorityError says too few members granted the claim.
type NoMajorityError struct {
	// Granted counts the grants, this agent's own included.
	Granted int
	// Answered counts the members that answered at all.
	Answered int
	// Needed is the strict majority of Members.
	Needed int
	// Members counts the members that have not left.
	Members int
}

func (e *NoMajorityError) Error() string {
	return fmt.Sprintf("no quorum: %d of %d members granted the claim (%d answered), %d needed", e.Granted, e.Members, e.Answered, e.Needed)
}

// UnavailableError says the lock's store could not be reached.
type UnavailableError struct {
	// Err is the cause.
	Err error
}

func (e *UnavailableError) Error() string { return "lock store unavailable: " + e.Err.Error() }

func (e *UnavailableError) Unwrap() error { return e.Err }

// StaleError says a completion was refused: a newer claim (a larger
// fence) replaced the run's while it ran.
type StaleError struct {
	// Fence is the refused run's fence; Newer the newer claim's.
	Fence, Newer uint64
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("completion refused: fence %d was replaced by a newer claim (fence %d)", e.Fence, e.Newer)
}
