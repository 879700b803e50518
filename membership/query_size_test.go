package membership

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestQueriesToManyMembers: the queries that name the members they ask
// (the quorum confirmation of failover, the leave announcement) still
// reach every member when the names do not fit in one serf query (serf
// refuses a query larger than 1,024 bytes: 8 members of 120-character
// names here, about 60 of 10 characters): every member acks.
func TestQueriesToManyMembers(t *testing.T) {
	const n = 8
	var ms []*Cluster
	var first string
	for i := range n {
		name := fmt.Sprintf("%s-%02d", strings.Repeat("member", 19), i) // 117 bytes
		cfg := Config{NodeName: name, ClusterName: clustertest.ClusterName(), BindAddr: "127.0.0.1", BindPort: 0, Profile: ProfileFast, Logger: zerolog.Nop()}
		c := startTest(t, cfg, func(events.Event) {})
		if i == 0 {
			first = fmt.Sprintf("127.0.0.1:%d", c.serf.LocalMember().Port)
		} else if _, err := c.Join([]string{first}); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, c)
	}
	clustertest.Eventually(t, 20*time.Second, "every member to see all alive", func() error {
		for _, c := range ms {
			alive := 0
			for _, m := range c.Members() {
				if m.Status == events.StatusAlive {
					alive++
				}
			}
			if alive != n {
				return fmt.Errorf("%s sees %d alive", c.serf.LocalMember().Name[len(c.serf.LocalMember().Name)-2:], alive)
			}
		}
		return nil
	})
	var names []string
	for _, c := range ms[1:] {
		names = append(names, c.serf.LocalMember().Name)
	}
	if queryFilter(names) != nil {
		t.Fatalf("the names of %d members of 117 bytes fit the filter budget: the test does not test what it means to", len(names))
	}
	if acked, total := ms[0].ConfirmQuorum(); acked != n || total != n {
		t.Errorf("ConfirmQuorum() = %d acked of %d, want %d of %d", acked, total, n, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if acked, asked := ms[n-1].announceLeave(ctx); acked != n-1 || asked != n-1 {
		t.Errorf("announceLeave() = %d acked of %d asked, want %d of %d", acked, asked, n-1, n-1)
	}
}

// TestQueryFilter: the names go into the query while they fit.
func TestQueryFilter(t *testing.T) {
	short := []string{"a", "b", "c"}
	if got := queryFilter(short); len(got) != 3 {
		t.Errorf("queryFilter(3 short names) = %v, want them", got)
	}
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("node-%05d", i))
	}
	if got := queryFilter(many); got != nil {
		t.Errorf("queryFilter(100 names of 10 bytes) = %d names, want nil (every member)", len(got))
	}
}
