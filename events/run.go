package events

import "time"

// Outcome says how a hook run ended.
type Outcome string

// The outcomes of a hook run.
const (
	// OutcomeOK: the hook exited 0.
	OutcomeOK Outcome = "ok"
	// OutcomeFailed: the hook exited non-zero or was killed by a signal it
	// did not get from vigil.
	OutcomeFailed Outcome = "failed"
	// OutcomeTimeout: the hook ran past its timeout and was killed with its
	// process group.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeError: the hook could not be started.
	OutcomeError Outcome = "error"
	// OutcomeCancelled: the agent stopped while the hook ran; it was killed.
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeHeld: the hook's run budget (max_runs_per) was spent, so this
	// run was held back and will not happen.
	OutcomeHeld Outcome = "held"
	// OutcomeSkipped: another agent was chosen to run this run_on: one
	// hook, or already ran it.
	OutcomeSkipped Outcome = "skipped"
	// OutcomeDropped: the event never reached the hook (its queue was full
	// or the agent stopped first).
	OutcomeDropped Outcome = "dropped"
	// OutcomeCoalesced: the event's members were handed to the hook in the
	// run of an earlier member-failed event (its Reason names it), with
	// the other events that arrived within the coalescing window.
	OutcomeCoalesced Outcome = "coalesced"
)

// Run records one hook run, as GET /v1/hooks shows it.
type Run struct {
	// Hook is the hook's name.
	Hook string `json:"hook"`
	// EventID is the id of the event the hook ran for.
	EventID uint64 `json:"event_id"`
	// Event is the event's type.
	Event Type `json:"event"`
	// Member is the member the event concerns, if one.
	Member string `json:"member,omitempty"`
	// Start is when the process started.
	Start time.Time `json:"start"`
	// DurationMS is how long it ran, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Outcome is how the run ended.
	Outcome Outcome `json:"outcome"`
	// ExitCode is the process's exit code; -1 when a signal ended it.
	ExitCode int `json:"exit_code"`
	// Signal names the signal that ended the process, if one did.
	Signal string `json:"signal,omitempty"`
	// Error says why the run failed to start or was dropped.
	Error string `json:"error,omitempty"`
	// Reason says why failover coordination held, skipped, dropped or
	// retried the run, or took it over.
	Reason string `json:"reason,omitempty"`
	// Key is the failure's cluster-wide key, for coordinated runs.
	Key string `json:"key,omitempty"`
	// Fence is the fencing token of a claimed failover run.
	Fence uint64 `json:"fence,omitempty"`
	// Attempt numbers the attempts of a hook with retries, from 1.
	Attempt int `json:"attempt,omitempty"`
	// Output is the tail (last 64 KiB) of stdout and stderr, interleaved;
	// OutputDropped once newer runs have used the history's output budget
	// (MaxHistoryOutput).
	Output string `json:"output"`
	// OutputBytes is how many bytes of output the hook wrote in all.
	OutputBytes int64 `json:"output_bytes"`
}
