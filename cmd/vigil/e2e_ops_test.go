package main

import (
	"encoding/json"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestRestartRejoinsFromDataDir: a, b and c form a cluster, b and c
// joining through a. c stops gracefully (SIGTERM), a is killed, and c,
// restarted with its data dir and no -join, rejoins through b: the data
// dir remembers the members across a graceful stop, and the one c first
// joined through being gone does not matter.
func TestRestartRejoinsFromDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end cluster test")
	}
	dataDir := filepath.Join(t.TempDir(), "c-data")
	a := startAgent(t, "a")
	b := startAgent(t, "b", "-join", a.GossipAddr())
	c := startAgent(t, "c", "-join", a.GossipAddr(), "-data-dir", dataDir)
	clustertest.AllSee(t, 30*time.Second, []*clustertest.Agent{a, b, c}, map[string]string{"a": "alive", "b": "alive", "c": "alive"})

	// A short uptime: c stops as soon as everyone sees everyone.
	if err := c.Stop(); err != nil {
		t.Fatalf("c exited with %v after SIGTERM, want status 0", err)
	}
	clustertest.AllSee(t, 30*time.Second, []*clustertest.Agent{a, b}, map[string]string{"c": "left"})
	a.Kill()
	clustertest.AllSee(t, 30*time.Second, []*clustertest.Agent{b}, map[string]string{"a": "failed"})

	// c wrote the members it knew as it left, whatever its uptime.
	peers := readPeersFile(t, filepath.Join(dataDir, "peers.json"))
	if peers["a"] != "alive" || peers["b"] != "alive" || len(peers) != 2 {
		t.Errorf("c's peers.json after its graceful stop: %v, want a and b alive", peers)
	}

	c2 := startAgent(t, "c", "-data-dir", dataDir)
	clustertest.AllSee(t, 30*time.Second, []*clustertest.Agent{b, c2}, map[string]string{"b": "alive", "c": "alive"})
	// b's view reached c without a, which c never saw fail: a is dropped.
	clustertest.WaitFor(t, 10*time.Second, "restarted c to rewrite peers.json", func() bool {
		p := readPeersFile(t, filepath.Join(dataDir, "peers.json"))
		return p["b"] == "alive" && len(p) == 1
	})
}

// readPeersFile returns a peers file as name → status.
func readPeersFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var list []struct{ Name, Addr, Status string }
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	out := map[string]string{}
	for _, p := range list {
		out[p.Name] = p.Status
	}
	return out
}

// TestForceLeave: a killed member is failed everywhere; vigil force-leave
// makes it left on every agent; -prune erases it. An alive member and an
// unknown one are refused.
func TestForceLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end cluster test")
	}
	a := startAgent(t, "a")
	b := startAgent(t, "b", "-join", a.GossipAddr())
	c := startAgent(t, "c", "-join", a.GossipAddr())
	survivors := []*clustertest.Agent{a, b}
	clustertest.AllSee(t, 30*time.Second, []*clustertest.Agent{a, b, c}, map[string]string{"a": "alive", "b": "alive", "c": "alive"})

	c.Kill()
	clustertest.AllSee(t, 30*time.Second, survivors, map[string]string{"c": "failed"})

	out, err := execVigil(t, "force-leave", "-http-addr", a.HTTPAddr(), "b")
	if err == nil || !strings.Contains(out, `force-leave "b": it is alive: only a failed member can be forced to leave`) {
		t.Errorf("force-leave of alive b: %v\n%s", err, out)
	}
	out, err = execVigil(t, "force-leave", "-http-addr", a.HTTPAddr(), "zulu")
	if err == nil || !strings.Contains(out, `force-leave "zulu": no such member`) {
		t.Errorf("force-leave of an unknown member: %v\n%s", err, out)
	}
	if code, err := postJSON(a, "/v1/force-leave", `{"name":"zulu"}`); err != nil || code != 404 {
		t.Errorf("POST /v1/force-leave of an unknown member: %d %v, want 404", code, err)
	}
	if code, err := postJSON(a, "/v1/force-leave", `{"name":"b"}`); err != nil || code != 409 {
		t.Errorf("POST /v1/force-leave of an alive member: %d %v, want 409", code, err)
	}
	if code, err := postJSON(a, "/v1/force-leave", `{"name":""}`); err != nil || code != 400 {
		t.Errorf("POST /v1/force-leave without a name: %d %v, want 400", code, err)
	}

	out, err = execVigil(t, "force-leave", "-http-addr", a.HTTPAddr(), "c")
	if err != nil || !strings.Contains(out, "Member c is forced out") {
		t.Fatalf("force-leave c: %v\n%s", err, out)
	}
	clustertest.AllSee(t, 30*time.Second, survivors, map[string]string{"c": "left", "a": "alive", "b": "alive"})
	for _, s := range survivors {
		clustertest.WaitFor(t, 10*time.Second, s.Name+"'s member-leave event for c", func() bool {
			var evs []struct {
				Event   string               `json:"event"`
				Members []clustertest.Member `json:"members"`
			}
			if s.Get("/v1/events", &evs) != nil {
				return false
			}
			for _, e := range evs {
				if e.Event == "member-leave" && len(e.Members) == 1 && e.Members[0].Name == "c" {
					return true
				}
			}
			return false
		})
	}

	out, err = execVigil(t, "force-leave", "-http-addr", b.HTTPAddr(), "-prune", "c")
	if err != nil {
		t.Fatalf("force-leave -prune c: %v\n%s", err, out)
	}
	for _, s := range survivors {
		clustertest.WaitFor(t, 20*time.Second, s.Name+" to forget c", func() bool {
			st, ok := statuses(s)["c"]
			return !ok && st == "" && len(statuses(s)) == 2
		})
	}
}

// TestDrainOnSIGTERM: with drain 2s, a SIGTERM first puts the service in
// maintenance (a peer sees it so and stops picking it), then, after the
// drain, the agent leaves gracefully and exits 0.
func TestDrainOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end cluster test")
	}
	const drain = 2 * time.Second
	peer := startAgent(t, "peer")
	web := startAgent(t, "web-1", "-join", peer.GossipAddr(), "-service", "web:8080", "-drain", drain.String())
	clustertest.AllSee(t, 30*time.Second, []*clustertest.Agent{peer, web}, map[string]string{"peer": "alive", "web-1": "alive"})

	health := func() string {
		var list []struct {
			Node   string `json:"node"`
			Health string `json:"health"`
			Status string `json:"status"`
		}
		if peer.Get("/v1/health/service/web", &list) != nil || len(list) != 1 {
			return ""
		}
		return list[0].Status + "/" + list[0].Health
	}
	clustertest.WaitFor(t, 20*time.Second, "peer to see web-1 passing", func() bool { return health() == "alive/passing" })

	start := time.Now()
	if err := web.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, 10*time.Second, "peer to see web-1 in maintenance", func() bool { return health() == "alive/maintenance" })
	if seen := time.Since(start); seen >= drain {
		t.Fatalf("maintenance seen only %s after SIGTERM, not within the %s drain", seen, drain)
	}
	if code, err := pickStatus(peer, "web"); err != nil || code != 503 {
		t.Errorf("pick during the drain answered %d (%v), want 503: no passing instance", code, err)
	}

	if err := web.Wait(drain - time.Since(start) - 200*time.Millisecond); web.Exited() {
		t.Fatalf("web-1 exited (%v) %s after SIGTERM, before its %s drain", err, time.Since(start), drain)
	}
	err := web.Wait(30 * time.Second)
	if !web.Exited() {
		t.Fatal("web-1 did not exit after its drain")
	}
	if err != nil {
		t.Fatalf("web-1 exited with %v, want status 0", err)
	}
	if took := time.Since(start); took < drain {
		t.Errorf("web-1 exited %s after SIGTERM, before its %s drain", took, drain)
	}
	clustertest.AllSee(t, 20*time.Second, []*clustertest.Agent{peer}, map[string]string{"web-1": "left"})
	var evs []struct {
		Event   string               `json:"event"`
		Members []clustertest.Member `json:"members"`
		Health  *struct {
			Status string `json:"status"`
		} `json:"health"`
	}
	if peer.Get("/v1/events", &evs) != nil {
		t.Fatal("no events from peer")
	}
	var order []string
	for _, e := range evs {
		if len(e.Members) == 1 && e.Members[0].Name == "web-1" && (e.Event == "member-leave" || e.Event == "member-failed" || e.Event == "health") {
			s := e.Event
			if e.Health != nil {
				s += ":" + e.Health.Status
			}
			order = append(order, s)
		}
	}
	if got := strings.Join(order, " "); got != "health:maintenance member-leave" {
		t.Errorf("peer's events for web-1: %q, want health:maintenance then member-leave", got)
	}
}

// pickStatus asks an agent for a passing instance of service and returns
// the HTTP status of the answer.
func pickStatus(a *clustertest.Agent, service string) (int, error) {
	resp, err := nethttp.Get("http://" + a.HTTPAddr() + "/v1/pick/" + service)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
