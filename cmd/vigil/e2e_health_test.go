package main

import (
	"bytes"
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

func (a *testAgent) put(t *testing.T, path, body string) int {
	t.Helper()
	req, _ := nethttp.NewRequest("PUT", "http://"+a.http+path, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

type apiInstance struct {
	Node   string            `json:"node"`
	Addr   string            `json:"addr"`
	Port   int               `json:"port"`
	Tags   map[string]string `json:"tags"`
	Health string            `json:"health"`
	Status string            `json:"status"`
}

// passingNodes returns the nodes this agent lists as passing for web.
func (a *testAgent) passingNodes() string {
	var list []apiInstance
	if !a.getJSON("/v1/health/service/web?passing", &list) {
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
	var agents []*testAgent
	for i, n := range names {
		svc := startService(t)
		services[n] = svc
		cfg := writeConfig(t, fmt.Sprintf(`
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
			args = append(args, "-join", agents[0].gossip)
		}
		agents = append(agents, startAgent(t, n, args...))
	}
	allPassing := func(want string) {
		t.Helper()
		for _, a := range agents {
			waitFor(t, 30*time.Second, a.name+" to list "+want+" as passing", func() bool { return a.passingNodes() == want })
		}
	}
	allPassing("a,b,c")

	var inst []apiInstance
	if !agents[0].getJSON("/v1/health/service/web", &inst) || len(inst) != 3 {
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
				var in apiInstance
				if !a.getJSON("/v1/pick/web?strategy=random", &in) {
					t.Fatalf("%s: pick failed", a.name)
				}
				if in.Port == bad || in.Node == node {
					t.Fatalf("%s picked %s (%+v), which is not passing", a.name, node, in)
				}
			}
		}
	}

	services["b"].failing.Store(true)
	allPassing("a,c")
	pickNever("b")
	var list []apiInstance
	agents[2].getJSON("/v1/health/service/web", &list)
	if len(list) != 3 || list[1].Health != "critical" {
		t.Errorf("c's view of b: %+v, want critical", list)
	}
	// Every agent saw b's health change (health:critical hook); only b saw
	// its own check change.
	for _, a := range agents {
		waitFor(t, 10*time.Second, a.name+"'s health:critical hook", func() bool {
			b, _ := os.ReadFile(filepath.Join(a.dir, "out", "health"))
			return strings.Contains(string(b), "b critical web\n")
		})
	}
	checks, _ := os.ReadFile(filepath.Join(agents[1].dir, "out", "checks"))
	if !strings.Contains(string(checks), "web-http critical\n") {
		t.Errorf("b's check hook saw %q, want web-http critical", checks)
	}
	if b, _ := os.ReadFile(filepath.Join(agents[0].dir, "out", "checks")); strings.Contains(string(b), "critical") {
		t.Errorf("a's check hook fired for b's check: %q", b)
	}

	services["b"].failing.Store(false)
	allPassing("a,b,c")

	if code := agents[2].put(t, "/v1/maintenance", `{"enable": true, "reason": "upgrade"}`); code != 200 {
		t.Fatalf("maintenance on: status %d", code)
	}
	allPassing("a,b")
	pickNever("c")
	agents[0].getJSON("/v1/health/service/web", &list)
	if len(list) != 3 || list[2].Health != "maintenance" {
		t.Errorf("a's view of c in maintenance: %+v", list)
	}
	if code := agents[2].put(t, "/v1/maintenance", `{"enable": false}`); code != 200 {
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
	cfg := writeConfig(t, fmt.Sprintf(`
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
		a.getJSON("/v1/checks", &checks)
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
		if code := a.put(t, tt.path, tt.body); code != tt.code {
			t.Errorf("PUT %s %s: status %d, want %d", tt.path, tt.body, code, tt.code)
		}
		if tt.want != "" {
			if s := status("heartbeat"); !strings.HasPrefix(s, tt.want) {
				t.Errorf("after PUT %s: heartbeat %q, want %q", tt.path, s, tt.want)
			}
		}
	}
	waitFor(t, 10*time.Second, "the tcp check to pass", func() bool { return strings.HasPrefix(status("port"), "passing") })
	a.put(t, "/v1/checks/heartbeat/pass", "")
	var self struct {
		Health string `json:"health"`
	}
	waitFor(t, 10*time.Second, "self health passing", func() bool { return a.getJSON("/v1/self", &self) && self.Health == "passing" })
}
