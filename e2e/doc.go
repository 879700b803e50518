// Package e2e holds vigil's reliability suite: tests of real `vigil agent`
// processes, either each in its own Linux network namespace, with the
// network between them partitioned and healed, or on loopback for storms,
// pauses and crashes (see internal/clustertest).
//
// The namespace tests need root; without it they are skipped, except under
// CI=true, where they fail. Run them with
//
//	go test -race ./e2e/
//
// With VIGIL_TEST_LOGS=DIR every agent's full log is kept under
// DIR/TEST/AGENT.log; the tail of each log is printed when a test fails.
// With VIGIL_TEST_BINARY=PATH the agents run that vigil binary instead of
// one built from this tree. -short skips them.
//
// TestFailoverChaos runs the failover chaos scenarios of
// internal/failoverchaos (3 trials each on fast; scripts/chaos-failover
// runs more through its -failover.* flags). A failing scenario is skipped
// ("waiting for the claim protocol") only while no completed run has
// carried a VIGIL_FENCE and VIGIL_CHAOS_STRICT is unset or empty.
package e2e
