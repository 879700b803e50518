package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestReload: SIGHUP and POST /v1/reload re-read the config: a changed
// hook takes effect, a new one starts, nothing runs twice or for a past
// event, and a broken config leaves the running one in place.
func TestReload(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfgPath := clustertest.WriteConfig(t, `
hooks:
  - name: a
    on: ["user:x"]
    shell: 'echo "a1 $VIGIL_USER_EVENT" >> "$OUT/log"'
`)
	ag := startAgent(t, "a", "-config", cfgPath)
	fire := func(name string) {
		t.Helper()
		if code, err := postJSON(ag, "/v1/event", `{"name": "`+name+`"}`); err != nil || code != 200 {
			t.Fatalf("fire %s: %v %d", name, err, code)
		}
	}
	logOf := func() string {
		b, _ := os.ReadFile(filepath.Join(ag.OutDir(), "log"))
		return string(b)
	}
	fire("x")
	clustertest.WaitFor(t, 10*time.Second, "a1's run", func() bool { return logOf() == "a1 x\n" })

	// Change a, add b, reload by SIGHUP.
	if err := os.WriteFile(cfgPath, []byte(`
hooks:
  - name: a
    on: ["user:x"]
    shell: 'echo "a2 $VIGIL_USER_EVENT" >> "$OUT/log"'
  - name: b
    on: ["user:x"]
    shell: 'echo "b $VIGIL_USER_EVENT" >> "$OUT/log"'
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ag.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, 10*time.Second, "the reload to be logged", func() bool {
		return strings.Contains(ag.Log(), "configuration reloaded")
	})
	fire("x")
	clustertest.WaitFor(t, 10*time.Second, "the runs after the reload", func() bool { return strings.Count(logOf(), "\n") == 3 })
	lines := strings.Split(strings.TrimSpace(logOf()), "\n")
	if lines[0] != "a1 x" || !contains(lines[1:], "a2 x") || !contains(lines[1:], "b x") {
		t.Errorf("runs %q, want a1 before the reload, then a2 and b once each", lines)
	}

	// A broken config is refused and changes nothing.
	if err := os.WriteFile(cfgPath, []byte("hooks:\n  - name: a\n    bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _ := postJSON(ag, "/v1/reload", ""); code != 400 {
		t.Errorf("reload of a broken config: status %d, want 400", code)
	}
	fire("x")
	clustertest.WaitFor(t, 10*time.Second, "runs with the kept config", func() bool { return strings.Count(logOf(), "\n") == 5 })
	// The runner records a run just after its hook wrote the line.
	runs := func() int { return len(hookRuns(ag, "a")) + len(hookRuns(ag, "b")) }
	clustertest.WaitFor(t, 10*time.Second, "the run records", func() bool { return runs() >= 5 })
	if n, lines := runs(), strings.Count(logOf(), "\n"); n != 5 || lines != 5 {
		t.Errorf("%d runs recorded and %d lines written in all, want 5 of each (no duplicates)", n, lines)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestReloadChecks: a reload that removes a check stops it, and a check
// that did not change keeps its status (the service's health does not
// flip).
func TestReloadChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	svc := startService(t)
	body := func(withPort bool) string {
		s := "service: {name: web, port: " + itoa(svc.port) + "}\nchecks:\n  - id: hb\n    ttl: 60s\n"
		if withPort {
			s += "  - id: port\n    tcp: 127.0.0.1:" + itoa(svc.port) + "\n    interval: 1s\n"
		}
		return s
	}
	cfgPath := clustertest.WriteConfig(t, body(true))
	ag := startAgent(t, "a", "-config", cfgPath)
	if code := put(t, ag, "/v1/checks/hb/pass", ""); code != 200 {
		t.Fatalf("ttl pass: %d", code)
	}
	checkIDs := func() map[string]string {
		var cs []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		_ = ag.Get("/v1/checks", &cs)
		out := map[string]string{}
		for _, c := range cs {
			out[c.ID] = c.Status
		}
		return out
	}
	clustertest.WaitFor(t, 10*time.Second, "both checks passing", func() bool {
		c := checkIDs()
		return c["hb"] == "passing" && c["port"] == "passing"
	})
	if err := os.WriteFile(cfgPath, []byte(body(false)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _ := postJSON(ag, "/v1/reload", ""); code != 200 {
		t.Fatalf("reload: %d", code)
	}
	c := checkIDs()
	if _, ok := c["port"]; ok || c["hb"] != "passing" {
		t.Errorf("checks after the reload: %v, want only hb, still passing", c)
	}
	var self struct {
		Health string `json:"health"`
	}
	if ag.Get("/v1/self", &self) != nil || self.Health != "passing" {
		t.Errorf("health after the reload %q, want passing", self.Health)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
