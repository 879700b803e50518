package probes

import "time"

// State is a check as the HTTP API shows it (GET /v1/checks).
type State struct {
	// ID is the check's id.
	ID string `json:"id"`
	// Kind is http, tcp, exec, grpc or ttl.
	Kind string `json:"kind"`
	// Status is the check's current status, thresholds applied.
	Status Status `json:"status"`
	// Output is what the last run (or TTL update) said, even when
	// thresholds held its status back: up to 4 KiB.
	Output string `json:"output"`
	// Notes is the definition's free-form description.
	Notes string `json:"notes,omitempty"`
	// Interval is the time between runs ("10s"); empty for TTL checks.
	Interval string `json:"interval,omitempty"`
	// Timeout bounds one run ("10s"); empty for TTL checks.
	Timeout string `json:"timeout,omitempty"`
	// TTL is a TTL check's TTL ("30s"); empty for other kinds.
	TTL string `json:"ttl,omitempty"`
	// LastRun is when the last run finished or the last TTL update (or
	// expiry) came; zero, and left out of JSON, before the first.
	LastRun time.Time `json:"last_run,omitzero"`
	// LastDurationMS is how long the last probe took, in milliseconds;
	// zero, and left out of JSON, for TTL checks and before the first run.
	LastDurationMS float64 `json:"last_duration_ms,omitempty"`
	// LastChange is when the status last changed; zero, and left out of
	// JSON, while it is still the initial status.
	LastChange time.Time `json:"last_change,omitzero"`
	// ConsecutiveSuccesses counts the passing or warning results in a row.
	ConsecutiveSuccesses int `json:"consecutive_successes"`
	// ConsecutiveFailures counts the critical results in a row.
	ConsecutiveFailures int `json:"consecutive_failures"`
}

// Change is a check's status change, handed to the manager's onChange.
type Change struct {
	// ID is the check's id.
	ID string `json:"id"`
	// Previous is the status before the change.
	Previous Status `json:"previous"`
	// Status is the new status.
	Status Status `json:"status"`
	// Output is what the run (or TTL update, or expiry) that changed it
	// said.
	Output string `json:"output"`
}
