package hook

import (
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
