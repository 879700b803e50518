package main

import (
	"fmt"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/internal/clustertest"
)

// fakeService is a real HTTP service whose /health answer the test flips.
type fakeService struct {
	srv     *httptest.Server
	failing atomic.Bool
	port    int
}

func startService(t *testing.T) *fakeService {
	t.Helper()
	s := &fakeService{}
	s.srv = httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if s.failing.Load() {
			nethttp.Error(w, "database unreachable", 500)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(s.srv.Close)
	_, port, _ := net.SplitHostPort(s.srv.Listener.Addr().String())
	s.port, _ = strconv.Atoi(port)
	return s
}

// put sends a PUT with a JSON body (or none) to the agent's API and
// returns the status code.
func put(t *testing.T, a *clustertest.Agent, path, body string) int {
	t.Helper()
	code, _, err := a.Send("PUT", path, body)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// passingNodes returns the nodes this agent lists as passing for web.
func passingNodes(a *clustertest.Agent) string {
	var list []vigilhttp.Instance
	if a.Get("/v1/health/service/web?passing", &list) != nil {
		return "?"
	}
	var names []string
	for _, in := range list {
		names = append(names, in.Node)
	}
	return strings.Join(names, ",")
}

// TestServiceHealthAndPick: three agents in front of three services; one
// service fails and every agent stops listing and picking it; it recovers
// and comes back; maintenance mode drains an instance the same way.
func TestServiceHealthAndPick(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end cluster test")
	}
	names := []string{"a", "b", "c"}
	services := map[string]*fakeService{}
	var agents []*clustertest.Agent
	for i, n := range names {
		svc := startService(t)
		services[n] = svc
		cfg := clustertest.WriteConfig(t, fmt.Sprintf(`
service:
  name: web
  port: %d
  tags: {version: "1.4"}
checks:
  - id: web-http
    http: http://127.0.0.1:%d/health
    interval: 1s
    timeout: 500ms
    failures_before_critical: 2
hooks:
  - name: on-critical
    on: ["health:critical"]
    shell: 'echo "$VIGIL_MEMBER_NAME $VIGIL_HEALTH $VIGIL_SERVICE" >> "$OUT/health"'
  - name: on-check
    on: [check]
    shell: 'echo "$VIGIL_CHECK_ID $VIGIL_CHECK_STATUS" >> "$OUT/checks"'
`, svc.port, svc.port))
		args := []string{"-config", cfg}
		if i > 0 {
			args = append(args, "-join", agents[0].GossipAddr())
		}
		agents = append(agents, startAgent(t, n, args...))
	}
	allPassing := func(want string) {
		t.Helper()
		for _, a := range agents {
			clustertest.WaitFor(t, 30*time.Second, a.Name+" to list "+want+" as passing", func() bool { return passingNodes(a) == want })
		}
	}
	allPassing("a,b,c")

	var inst []vigilhttp.Instance
	if agents[0].Get("/v1/health/service/web", &inst) != nil || len(inst) != 3 {
		t.Fatalf("health list %+v", inst)
	}
	if in := inst[1]; in.Node != "b" || in.Addr != "127.0.0.1" || in.Port != services["b"].port || in.Tags["version"] != "1.4" || in.Health != "passing" || in.Status != "alive" {
		t.Errorf("instance b = %+v", in)
	}

	// pickNever asserts 100 picks from each agent never return node.
	pickNever := func(node string) {
		t.Helper()
		bad := services[node].port
		for _, a := range agents {
			for i := 0; i < 100; i++ {
				var in vigilhttp.Instance
				if a.Get("/v1/pick/web?strategy=random", &in) != nil {
					t.Fatalf("%s: pick failed", a.Name)
				}
				if in.Port == bad || in.Node == node {
					t.Fatalf("%s picked %s (%+v), which is not passing", a.Name, node, in)
				}
			}
		}
	}

	services["b"].failing.Store(true)
	allPassing("a,c")
	pickNever("b")
	var list []vigilhttp.Instance
	_ = agents[2].Get("/v1/health/service/web", &list)
	if len(list) != 3 || list[1].Health != "critical" {
		t.Errorf("c's view of b: %+v, want critical", list)
	}
	// Every agent saw b's health change (health:critical hook); only b saw
	// its own check change.
	for _, a := range agents {
		clustertest.WaitFor(t, 10*time.Second, a.Name+"'s health:critical hook", func() bool {
			b, _ := os.ReadFile(filepath.Join(a.OutDir(), "health"))
			return strings.Contains(string(b), "b critical web\n")
		})
	}
	checks, _ := os.ReadFile(filepath.Join(agents[1].OutDir(), "checks"))
	if !strings.Contains(string(checks), "web-http critical\n") {
		t.Errorf("b's check hook saw %q, want web-http critical", checks)
	}
	if b, _ := os.ReadFile(filepath.Join(agents[0].OutDir(), "checks")); strings.Contains(string(b), "critical") {
		t.Errorf("a's check hook fired for b's check: %q", b)
	}

	services["b"].failing.Store(false)
	allPassing("a,b,c")

	if code := put(t, agents[2], "/v1/maintenance", `{"enable": true, "reason": "upgrade"}`); code != 200 {
		t.Fatalf("maintenance on: status %d", code)
	}
	allPassing("a,b")
	pickNever("c")
	_ = agents[0].Get("/v1/health/service/web", &list)
	if len(list) != 3 || list[2].Health != "maintenance" {
		t.Errorf("a's view of c in maintenance: %+v", list)
	}
	if code := put(t, agents[2], "/v1/maintenance", `{"enable": false}`); code != 200 {
		t.Fatalf("maintenance off: status %d", code)
	}
	allPassing("a,b,c")
}

// TestTTLCheckOverHTTP: a TTL check follows the reports PUT to it and
// unknown or non-TTL checks are refused.
func TestTTLCheckOverHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	svc := startService(t)
	cfg := clustertest.WriteConfig(t, fmt.Sprintf(`
service: {name: web, port: %d}
checks:
  - id: heartbeat
    ttl: 30s
  - id: port
    tcp: 127.0.0.1:%d
    interval: 1s
`, svc.port, svc.port))
	a := startAgent(t, "a", "-config", cfg)
	status := func(id string) string {
		var checks []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Output string `json:"output"`
		}
		_ = a.Get("/v1/checks", &checks)
		for _, c := range checks {
			if c.ID == id {
				return c.Status + " " + c.Output
			}
		}
		return ""
	}
	if s := status("heartbeat"); !strings.HasPrefix(s, "critical") {
		t.Errorf("heartbeat starts %q, want critical", s)
	}
	for _, tt := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/v1/checks/heartbeat/pass", `{"note": "all good"}`, 200, "passing all good"},
		{"/v1/checks/heartbeat/warn", ``, 200, "warning"},
		{"/v1/checks/heartbeat/fail", `{"note": "stuck"}`, 200, "critical stuck"},
		{"/v1/checks/nope/pass", ``, 404, ""},
		{"/v1/checks/port/pass", ``, 400, ""},
		{"/v1/checks/heartbeat/pass", `{"nope": 1}`, 400, ""},
	} {
		if code := put(t, a, tt.path, tt.body); code != tt.code {
			t.Errorf("PUT %s %s: status %d, want %d", tt.path, tt.body, code, tt.code)
		}
		if tt.want != "" {
			if s := status("heartbeat"); !strings.HasPrefix(s, tt.want) {
				t.Errorf("after PUT %s: heartbeat %q, want %q", tt.path, s, tt.want)
			}
		}
	}
	clustertest.WaitFor(t, 10*time.Second, "the tcp check to pass", func() bool { return strings.HasPrefix(status("port"), "passing") })
	put(t, a, "/v1/checks/heartbeat/pass", "")
	var self struct {
		Health string `json:"health"`
	}
	clustertest.WaitFor(t, 10*time.Second, "self health passing", func() bool { return a.Get("/v1/self", &self) == nil && self.Health == "passing" })
}
