package membership

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestJoinRetryMergesClustersFormedApart: two agents started at the same
// moment behind one DNS name, each finding only itself there, form two
// clusters. With a recheck interval, the first agent finds the second at
// its join addresses once it is up and merges the clusters; without one
// (serf's and Consul's behaviour) they stay apart.
func TestJoinRetryMergesClustersFormedApart(t *testing.T) {
	for _, tt := range []struct {
		name    string
		recheck time.Duration
		merged  bool
	}{
		{"recheck merges", 200 * time.Millisecond, true},
		{"without recheck apart", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bPort := loopbackPort(t)
			logs := newLineCounter(`"message":"joined cluster"`)
			a, aAddr := startTestCluster(t, "a", func(c *Config) { c.Logger = zerolog.New(logs) })
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			// a finds only itself: b is not up yet. b's address is a
			// name, resolved at each recheck.
			a.JoinRetry(ctx, []string{aAddr, "localhost:" + strconv.Itoa(bPort)}, tt.recheck)
			eventually(t, 10*time.Second, "a's first join (itself only)", func() bool { return logs.counts[0].Load() > 0 })
			b, _ := startTestCluster(t, "b", func(c *Config) { c.BindPort = bPort })
			if !tt.merged {
				// Three times the other case's recheck, and more.
				deadline := time.Now().Add(2 * time.Second)
				for time.Now().Before(deadline) {
					if s := statusIn(a, "b"); s != "" {
						t.Fatalf("a sees b %s without a recheck", s)
					}
					time.Sleep(50 * time.Millisecond)
				}
				return
			}
			eventually(t, 10*time.Second, "a and b to see each other alive", func() bool {
				return statusIn(a, "b") == "alive" && statusIn(b, "a") == "alive"
			})
			if n := len(a.notMembers(ctx, []string{aAddr, fmt.Sprintf("127.0.0.1:%d", bPort)})); n != 0 {
				t.Errorf("after the merge %d join addresses are still not members", n)
			}
		})
	}
}
