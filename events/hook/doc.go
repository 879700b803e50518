// Package hook runs hooks for events: each hook has its own FIFO queue and
// worker, builds the hook's environment (VIGIL_*, SERF_*) and stdin (JSON
// or serf's format), runs the process in its own process group with a
// timeout, retries and a run budget, and records every run. Hooks are
// defined here too (Hook, serf-style -hook specs). Failover coordination
// plugs in through the Coordinator interface (events/failover implements
// it); the journal through the Journal interface (events/journal).
package hook
