package clustertest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
)

// ClusterName returns this test process's gossip cluster name
// (cluster_name, memberlist's label): every agent the harness starts gets
// it (-cluster-name; a test of the setting passes its own after it), and
// in-process members of the tests should set it too. Ports are handed out
// once per process (handedOut), but go test runs packages as separate
// processes side by side: without a name, an agent of one package that
// starts on a port an agent of another package just left takes the
// gossip its old cluster still sends there, and merges the two clusters.
// Agents with different names drop each other's gossip.
var ClusterName = sync.OnceValue(func() string {
	return fmt.Sprintf("test-%d-%08x", os.Getpid(), rand.Uint32())
})
