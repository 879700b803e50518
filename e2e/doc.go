// Package e2e holds vigil's reliability suite: multi-host tests of real
// `vigil agent` processes, each in its own Linux network namespace, with
// the network between them partitioned and healed (see
// internal/clustertest).
//
// The tests need root to create namespaces; without it they are skipped,
// except under CI=true, where they fail. Run them with
//
//	go test -race ./e2e/
//
// With VIGIL_TEST_LOGS=DIR every agent's full log is kept under
// DIR/TEST/AGENT.log; the tail of each log is printed when a test fails.
// -short skips them.
package e2e
