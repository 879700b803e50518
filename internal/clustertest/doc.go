// Package clustertest runs real `vigil agent` processes for multi-host
// tests: on loopback, or one per Linux network namespace on a private
// bridge, where the network between them can be partitioned and healed.
//
// # Quick start
//
//	nw := clustertest.NewNetwork(t, 5)            // 5 hosts: h0 … h4
//	agents := nw.StartCluster(t, "-config", cfg)  // agent hN on host N, all alive
//	nw.Partition([]int{0, 1}, []int{2, 3, 4})
//	clustertest.AllSee(t, 60*time.Second, agents[:2],
//		clustertest.Expect("alive", agents[:2]...).And("failed", agents[2:]...))
//	nw.Heal()
//
// Tests that need no faults can use StartLocal or StartLocalCluster, which
// run agents in the test's own network namespace on free 127.0.0.1 ports
// and need no privileges; the Agent API is the same. StartLocalWith takes
// Options: the vigil commands' tests (cmd/vigil) start every agent with
// Options.TokenDirs, so that the commands find its API token where they
// would in production. The end-to-end tests (e2e, e2e/chaos through
// internal/failoverchaos, cmd/vigil, http/ui's browser test) start their
// agents here; in-process tests of other packages use WaitFor, Eventually,
// Buffer, WriteConfig and Victim. The benchmark (bench), which is not a
// test and starts serf agents beside vigil's, up to 200 at a time, uses
// the pieces that take no testing.TB: PickFreePorts, Poll, StartProcess,
// AgentEnv, WriteConfigFile and AcceptAndClose.
//
// # Hosts
//
// NewNetwork needs root (CI runs as root). Without it, or when `ip netns
// add` fails, the test is skipped, unless the environment has CI=true, in
// which case it fails: CI must run these tests. Each Network gets a random
// prefix vgtXXXX: namespaces vgtXXXX-h0 …, a bridge vgtXXXXbr in the root
// namespace and one veth pair per host (vgtXXXX-vN in the root namespace,
// eth0 inside). Hosts get addresses in a random /24 of 198.18.0.0/15 (the
// RFC 2544 benchmarking range, so the traffic is unmistakably the test's),
// and a permanent neighbour entry for every other host, so no ARP is ever
// needed. The root namespace has no address on the bridge: nothing outside
// the hosts can reach them or be reached by them.
//
// Everything is removed in t.Cleanup, failed test or not: processes inside
// the namespaces are killed by PID, then the veths, namespaces and bridge
// are deleted. A run that was itself killed (go test -timeout, SIGKILL)
// cannot clean up, so each Network writes a marker
// $TMPDIR/vigil-netns/vgtXXXX.pid with its creator's PID and start time, and
// the next NewNetwork deletes the leftovers of every creator that is no
// longer running (and any vgt* namespace or link without a marker). Agents
// are also started with a parent-death signal, so they die with the test
// binary.
//
// # Talking to agents inside a namespace
//
// Agents keep their HTTP API on 127.0.0.1:7947, loopback only, as in
// production; every namespace has its own loopback, so the port is the same
// on every host. The test process is in the root namespace and cannot reach
// a namespace's loopback by address. Instead the Agent's HTTP client dials
// from inside the namespace: a fresh goroutine locks its OS thread, moves
// that thread into the namespace with setns(2), creates the socket (a
// socket stays in the namespace it was created in) and exits without
// unlocking, so the Go runtime discards the thread instead of reusing it.
// No helper binary, curl or `ip netns exec` per request is needed, and
// Host.Dial and Host.Listen expose the same trick for other traffic.
//
// # Faults
//
// Faults use iproute2 only (iptables/nft are not installed, and this kernel
// has no sch_netem, so `tc netem` cannot be used). Every host moves the
// "lookup local" policy rule from priority 0 to 1000 when it is created;
// a cut is then a rule `from SRC blackhole` at priority 100 in the
// receiving host's namespace. Packets from SRC are dropped silently as they
// arrive, before they reach a socket: the sender sees no error, exactly as
// with a dead link, and since neighbours are permanent there is no ARP
// failure to give the cut away either. Cutting only the receiving side
// makes one-way faults possible (Block), and a partition is a cut in both
// directions between every pair of hosts in different groups. Heal deletes
// every cut.
package clustertest
