// Package chaos runs the failover chaos scenarios of
// internal/failoverchaos as tests: TestFailoverChaos (every scenario, 3
// trials each on fast in CI; scripts/chaos-failover runs more through its
// -failover.* flags) and TestFailoverChaosEtcd (pause-runner with the etcd
// lock). A failing scenario is skipped ("waiting for the claim protocol")
// only while no completed run has carried a VIGIL_FENCE and
// VIGIL_CHAOS_STRICT is unset or empty. The scenarios in network
// namespaces need root; without it they are skipped, except under
// CI=true. It is a package of its own, apart from e2e, so that go test
// runs the two side by side.
package chaos
