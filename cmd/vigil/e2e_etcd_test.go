package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/vigil-agent/vigil/events/failover"
	"github.com/vigil-agent/vigil/internal/clustertest"
	"github.com/vigil-agent/vigil/internal/etcdtest"
)

// etcdPrefix is the e2e cluster's key prefix in etcd.
const etcdPrefix = "/vigil/e2e/"

// etcdRun is one line the promote hook of TestFailoverEtcd wrote.
type etcdRun struct {
	runner, key string
	fence       int64
}

// etcdRuns parses the promote lines: "RUNNER KEY FENCE".
func etcdRuns(t *testing.T, agents []*clustertest.Agent) []etcdRun {
	t.Helper()
	var runs []etcdRun
	for _, l := range promoted(agents) {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("promote line %q: want RUNNER KEY FENCE (VIGIL_FENCE empty?)", l)
		}
		fence, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatalf("promote line %q: fence: %v", l, err)
		}
		runs = append(runs, etcdRun{runner: f[0], key: f[1], fence: fence})
	}
	return runs
}

// checkEtcdFence checks in etcd that run's fence is the revision that
// wrote its claim (running, by its runner) and that the task's key now
// says done with that fence.
func checkEtcdFence(t *testing.T, c *clientv3.Client, run etcdRun) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := etcdPrefix + "promote/" + run.key
	at, err := c.Get(ctx, key, clientv3.WithRev(run.fence))
	if err != nil || len(at.Kvs) != 1 || at.Kvs[0].ModRevision != run.fence {
		t.Fatalf("%s at revision %d: %v %v, want the claim written at that revision", key, run.fence, at, err)
	}
	var claim struct{ State, Holder string }
	if json.Unmarshal(at.Kvs[0].Value, &claim) != nil || claim.State != "running" || claim.Holder != run.runner {
		t.Fatalf("%s at revision %d holds %s, want running by %s", key, run.fence, at.Kvs[0].Value, run.runner)
	}
	now, err := c.Get(ctx, key)
	var done struct {
		State, Runner string
		Fence         int64
	}
	if err != nil || len(now.Kvs) != 1 || json.Unmarshal(now.Kvs[0].Value, &done) != nil ||
		done.State != "done" || done.Runner != run.runner || done.Fence != run.fence {
		t.Fatalf("%s now: %v %v, want done by %s with fence %d", key, now, err, run.runner, run.fence)
	}
}

// TestFailoverEtcd: five agents (two primaries, three replicas) claim
// through a real etcd. The first primary's kill gives exactly one run,
// whose VIGIL_FENCE is the etcd revision that wrote the claim. With etcd
// stopped, the second primary's failover is held, never run, and
// /v1/failover and `vigil failover status` say etcd is unreachable; once
// etcd is back it runs, once, with a larger fence.
func TestFailoverEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end cluster test")
	}
	srv := etcdtest.Start(t)
	cfg := clustertest.WriteConfig(t, etcdPromoteConfig(srv.Endpoint(), "    prefix: "+etcdPrefix+"\n",
		`'echo "$VIGIL_SELF_NAME $VIGIL_EVENT_ID $VIGIL_FENCE" >> "$OUT/promoted"'`))
	agents := startRoles(t, cfg, "p1=primary", "p2=primary", "r1=replica", "r2=replica", "r3=replica")
	p1 := agents[0]
	admin, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })

	// The first primary dies: exactly one run, fenced by etcd.
	p1.Kill()
	survivors := agents[1:]
	clustertest.WaitFor(t, 30*time.Second, "one promote run", func() bool { return outcomes(survivors)["ok"] == 1 })
	first := etcdRuns(t, survivors)
	if len(first) != 1 || !strings.HasPrefix(first[0].key, "p1@") {
		t.Fatalf("promote ran %+v, want once for p1", first)
	}
	checkEtcdFence(t, admin, first[0])
	for _, a := range survivors {
		clustertest.WaitFor(t, 10*time.Second, a.Name+" to have no pending failover", func() bool {
			var st failover.Status
			return a.Get("/v1/failover", &st) == nil && len(st.Pending) == 0
		})
	}

	// etcd stops, then the second primary dies: held, with the reason.
	srv.Stop()
	agents[1].Kill()
	replicas := agents[2:]
	var heldOn *clustertest.Agent
	var reason string
	clustertest.WaitFor(t, 30*time.Second, "a replica to hold p2's failover because etcd is unreachable", func() bool {
		for _, a := range replicas {
			var st failover.Status
			if a.Get("/v1/failover", &st) != nil {
				continue
			}
			for _, p := range st.Pending {
				if p.State == "held" && strings.Contains(p.Reason, "etcd unreachable at "+srv.Endpoint()) {
					heldOn, reason = a, p.Reason
					return true
				}
			}
		}
		return false
	})
	t.Logf("%s holds p2's failover: %s", heldOn.Name, reason)
	if !strings.Contains(reason, "the failover is held, never run unclaimed") {
		t.Errorf("reason %q does not say the failover is held", reason)
	}
	out, err := execVigil(t, "failover", "status", "-http-addr", heldOn.HTTPAddr())
	if err != nil || !strings.Contains(out, "etcd unreachable at") || !strings.Contains(out, "held") {
		t.Errorf("vigil failover status: %v\n%s", err, out)
	}
	if n := len(promoted(replicas)); n != 1 {
		t.Fatalf("%d promote runs with etcd down, want only the first", n)
	}

	// etcd is back: p2's failover runs once, with a larger fence.
	srv.Restart()
	clustertest.WaitFor(t, 30*time.Second, "the held promote run", func() bool { return outcomes(replicas)["ok"] == 2 })
	runs := etcdRuns(t, replicas)
	if len(runs) != 2 {
		t.Fatalf("promote ran %+v, want twice in all (p1, then p2)", runs)
	}
	second := runs[0]
	if strings.HasPrefix(second.key, "p1@") {
		second = runs[1]
	}
	if !strings.HasPrefix(second.key, "p2@") || second.fence <= first[0].fence {
		t.Fatalf("second run %+v, want p2's with a fence above %d", second, first[0].fence)
	}
	checkEtcdFence(t, admin, second)
	// And it stays at one run each.
	for _, a := range replicas {
		clustertest.WaitFor(t, 10*time.Second, a.Name+" to have no pending failover", func() bool {
			var st failover.Status
			return a.Get("/v1/failover", &st) == nil && len(st.Pending) == 0
		})
	}
	if n := outcomes(replicas)["ok"]; n != 2 {
		t.Fatalf("%d ok runs, want 2", n)
	}
}
