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
// The failover chaos scenarios run in e2e/chaos.
package e2e
