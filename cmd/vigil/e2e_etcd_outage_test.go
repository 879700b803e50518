package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
	"github.com/vigil-agent/vigil/internal/etcdtest"
)

// hookLines returns the lines of out/NAME on every agent.
func hookLines(agents []*clustertest.Agent, name string) []string {
	var lines []string
	for _, a := range agents {
		b, _ := os.ReadFile(filepath.Join(a.OutDir(), name))
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

// lastField parses the last field of line as an integer.
func lastField(t *testing.T, line string) int64 {
	t.Helper()
	f := strings.Fields(line)
	n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
	if err != nil {
		t.Fatalf("line %q: want a fence last: %v", line, err)
	}
	return n
}

// TestFailoverEtcdOutageMidRun: etcd stops while the promote hook runs.
// The runner cannot renew its lease and kills the hook before the lease
// could end in etcd (the run is cancelled, its script never finishes);
// nothing runs while etcd is down; once etcd is back the failover runs
// again from the start, with a larger fence, and completes once.
func TestFailoverEtcdOutageMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end cluster test")
	}
	srv := etcdtest.Start(t)
	cfg := clustertest.WriteConfig(t, etcdPromoteConfig(srv.Endpoint(), "", `|
      trap 'echo "killed $(date +%s%N)" >> "$OUT/killed"; exit 143' TERM
      echo "start $VIGIL_SELF_NAME $VIGIL_FENCE" >> "$OUT/started"
      sleep 5 & wait $!
      echo "end $VIGIL_SELF_NAME $VIGIL_FENCE" >> "$OUT/promoted"`))
	agents := startRoles(t, cfg, "p=primary", "r1=replica", "r2=replica")
	p, replicas := agents[0], agents[1:]

	p.Kill()
	clustertest.WaitFor(t, 30*time.Second, "the promote hook to start", func() bool { return len(hookLines(replicas, "started")) == 1 })
	first := hookLines(replicas, "started")[0]
	stopping := time.Now()
	srv.Stop()
	stopped := time.Now() // etcd's graceful close can serve a while
	t.Logf("etcd took %s to stop", stopped.Sub(stopping).Round(time.Millisecond))
	// Stopped before the lease could end: SIGTERM at nine tenths of it,
	// SIGKILL soon after (the hook guard's grace is short with a 2 s
	// lease, so under load the script's trap may not get to write).
	var cancelled clustertest.Run
	clustertest.WaitFor(t, 10*time.Second, "the run to be recorded cancelled", func() bool {
		for _, a := range replicas {
			for _, r := range hookRuns(a, "promote") {
				if r.Outcome == "cancelled" {
					cancelled = r
					return true
				}
			}
		}
		return false
	})
	end := cancelled.Start.Add(time.Duration(cancelled.DurationMS * float64(time.Millisecond)))
	if d := end.Sub(stopped); d > 2*time.Second {
		t.Errorf("the hook was stopped %s after etcd stopped, later than its 2s lease (run %+v)", d.Round(time.Millisecond), cancelled)
	} else {
		t.Logf("the hook was stopped %s after etcd stopped (lease 2s); its SIGTERM trap ran: %v", d.Round(time.Millisecond), len(hookLines(replicas, "killed")) == 1)
	}
	// The killed script never finishes, and nothing starts while etcd is
	// down (longer than the hook would have taken).
	time.Sleep(6 * time.Second)
	if ends, starts := hookLines(replicas, "promoted"), hookLines(replicas, "started"); len(ends) != 0 || len(starts) != 1 {
		t.Fatalf("with etcd down: started %q, ended %q; want the first start only", starts, ends)
	}

	srv.Restart()
	clustertest.WaitFor(t, 40*time.Second, "the failover to run again and complete", func() bool { return outcomes(replicas)["ok"] == 1 })
	starts, ends := hookLines(replicas, "started"), hookLines(replicas, "promoted")
	if len(starts) != 2 || len(ends) != 1 {
		t.Fatalf("started %q, ended %q; want two starts and one end", starts, ends)
	}
	if f1, f2 := lastField(t, first), lastField(t, ends[0]); f2 <= f1 {
		t.Fatalf("the run after the outage has fence %d, not above the killed run's %d", f2, f1)
	}
}
