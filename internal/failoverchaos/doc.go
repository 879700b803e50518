// Package failoverchaos measures `run_on: one` failover hooks under faults
// (issue 11, item 8): how many runs complete per real failure, whether they
// overlap, and whether a second run carries a larger fence.
//
// A trial starts five `vigil agent` processes through internal/clustertest
// (on loopback, or one per network namespace for the scenarios that cut the
// network): n0 with tag role=primary, n1 … n4 with role=replica, each with
// a data_dir. Every agent has one hook:
//
//	name: promote, on: [member-failed], match: {role: primary}, run_on: one,
//	eligible: {role: replica}, settle: 1s, timeout: 30s (default quorum)
//
// (with Options.Etcd, also failover.lock.etcd: claims through etcd, each
// trial under a prefix of its own) whose script appends "start UNIX-NANO VIGIL_SELF_NAME VIGIL_FENCE
// VIGIL_EVENT_ID PID" to a file shared by the trial's agents, sleeps 5 s,
// and appends the same line starting with "end" (an empty variable is
// logged as "-"). The trial kills the primary with kill -9, injects the
// scenario's fault (see Scenarios), then waits until a run has completed
// and the cluster is quiet (no hook process running and nothing pending in
// GET /v1/failover on any live agent) for a few seconds, or until a
// deadline after the last fault, and counts:
//
//   - completed runs: end lines; a trial has exactly one, zero, or two or
//     more;
//   - the most runs running at one instant: a run runs from its start line
//     to its end line, or, without one, to when its process was seen gone
//     (killed with its agent), or else to the end of the trial;
//   - fence order: the completed runs, ordered by start, must carry
//     strictly increasing integer fences; with two or more completed runs a
//     missing fence is a violation;
//   - the time from the primary's kill to the first end line.
//
// A trial whose primary exited before the kill, or into which the fault
// could not be injected (no runner found, the runner started its hook
// before it could be killed during settle, …), is excluded and reported as
// such, never counted as a success.
//
// The e2e test TestFailoverChaos runs the trials (go test ./e2e -run
// TestFailoverChaos), and scripts/chaos-failover runs it with more trials
// and prints the tables (Table, Markdown).
package failoverchaos
