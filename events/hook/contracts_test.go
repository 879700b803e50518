package hook

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"
)

// TestHookInputIsPinned pins what a hook script reads: the JSON stdin and
// the environment of a failover run. Scripts are written against them
// (docs/hooks.md) and outlive agent versions; a change that makes this
// fail breaks deployed scripts, and needs a note in the docs' upgrade
// section rather than a new expected value. (Serf-format stdin is pinned
// by TestSerfStdin.)
func TestHookInputIsPinned(t *testing.T) {
	self := events.Member{Name: "db-2", Addr: "10.0.0.6", Port: 7946, Status: "alive", Tags: map[string]string{"role": "replica", "service": "db"}}
	ev := &events.Event{ID: 1765000000000123, Type: events.MemberFailed, Time: time.Unix(1765000000, 5e8).UTC(),
		Members: []events.Member{{Name: "db-1", Addr: "10.0.0.5", Port: 7946, Status: "failed", Tags: map[string]string{"role": "primary", "service": "db"}}},
		Key:     "db-1@dndxbwrck3ev.0:member-failed", Fence: 1765000000042, TakeoverFrom: "db-3"}

	stdin, err := JSONStdin(ev, self)
	if err != nil {
		t.Fatal(err)
	}
	const wantStdin = `{"id":1765000000000123,"event":"member-failed","time":"2025-12-06T05:46:40.5Z",` +
		`"self":{"name":"db-2","addr":"10.0.0.6","port":7946,"status":"alive","tags":{"role":"replica","service":"db"}},` +
		`"members":[{"name":"db-1","addr":"10.0.0.5","port":7946,"status":"failed","tags":{"role":"primary","service":"db"}}],` +
		`"key":"db-1@dndxbwrck3ev.0:member-failed","fence":1765000000042,"takeover_from":"db-3"}`
	if got := strings.TrimSpace(string(stdin)); got != wantStdin {
		t.Errorf("JSON stdin:\n got %s\nwant %s", got, wantStdin)
	}

	want := []string{
		"VIGIL_EVENT=member-failed",
		"VIGIL_EVENT_ID=db-1@dndxbwrck3ev.0:member-failed",
		"VIGIL_LOCAL_EVENT_ID=1765000000000123",
		"VIGIL_SELF_NAME=db-2",
		"VIGIL_SELF_ADDR=10.0.0.6",
		"VIGIL_HTTP_ADDR=127.0.0.1:7947",
		"SERF_EVENT=member-failed",
		"SERF_SELF_NAME=db-2",
		"SERF_SELF_ROLE=replica",
		"VIGIL_MEMBER_NAME=db-1",
		"VIGIL_MEMBER_ADDR=10.0.0.5",
		"VIGIL_MEMBER_PORT=7946",
		"VIGIL_MEMBER_STATUS=failed",
		"VIGIL_FENCE=1765000000042",
		"VIGIL_TAKEOVER_FROM=db-3",
		"VIGIL_SERVICE=db",
		"SERF_TAG_ROLE=replica",
		"SERF_TAG_SERVICE=db",
	}
	got := HookEnv(ev, self, "127.0.0.1:7947")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("environment:\n got %q\nwant %q", got, want)
	}
}

// TestHealthInputIsPinned pins a health event's and a check event's JSON
// stdin and the variables that carry their status (docs/hooks.md): the
// statuses are typed in Go (events.HealthStatus), plain strings to a
// script.
func TestHealthInputIsPinned(t *testing.T) {
	self := events.Member{Name: "web-1", Addr: "10.0.0.6", Port: 7946, Status: events.StatusAlive, Tags: map[string]string{"service": "web", "health": "critical"}}
	at := time.Unix(1765000000, 0).UTC()
	tests := []struct {
		name      string
		ev        events.Event
		wantStdin string
		wantEnv   []string
	}{
		{
			name: "health",
			ev: events.Event{ID: 41, Type: events.Health, Time: at, Members: []events.Member{self},
				Health: &events.HealthChange{Service: "web", Status: events.HealthCritical, Previous: events.HealthPassing}},
			wantStdin: `{"id":41,"event":"health","time":"2025-12-06T05:46:40Z",` +
				`"self":{"name":"web-1","addr":"10.0.0.6","port":7946,"status":"alive","tags":{"health":"critical","service":"web"}},` +
				`"members":[{"name":"web-1","addr":"10.0.0.6","port":7946,"status":"alive","tags":{"health":"critical","service":"web"}}],` +
				`"health":{"service":"web","status":"critical","previous":"passing"}}`,
			wantEnv: []string{"VIGIL_HEALTH=critical", "VIGIL_SERVICE=web"},
		},
		{
			name: "check",
			ev: events.Event{ID: 42, Type: events.Check, Time: at, Members: []events.Member{self},
				Check: &events.CheckChange{ID: "web-http", Status: events.HealthWarning, Previous: events.HealthPassing, Output: "HTTP GET: 429"}},
			wantStdin: `{"id":42,"event":"check","time":"2025-12-06T05:46:40Z",` +
				`"self":{"name":"web-1","addr":"10.0.0.6","port":7946,"status":"alive","tags":{"health":"critical","service":"web"}},` +
				`"members":[{"name":"web-1","addr":"10.0.0.6","port":7946,"status":"alive","tags":{"health":"critical","service":"web"}}],` +
				`"check":{"id":"web-http","status":"warning","previous":"passing","output":"HTTP GET: 429"}}`,
			wantEnv: []string{"VIGIL_CHECK_ID=web-http", "VIGIL_CHECK_STATUS=warning"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdin, err := JSONStdin(&tt.ev, self)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(stdin)); got != tt.wantStdin {
				t.Errorf("JSON stdin:\n got %s\nwant %s", got, tt.wantStdin)
			}
			env := HookEnv(&tt.ev, self, "127.0.0.1:7947")
			for _, kv := range tt.wantEnv {
				if !slices.Contains(env, kv) {
					t.Errorf("environment lacks %s: %q", kv, env)
				}
			}
		})
	}
}
