package failover

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"
)

// The tests in this file pin what agents of different versions must agree
// on during a rolling upgrade: which member runs a failover (Rank), the
// failure's key, and the claim protocol's and announcement's wire format.
// A change that makes one of them fail makes an old and a new agent
// disagree (two runners, two keys for one failure, claims one side cannot
// read): it needs a protocol version and an upgrade note, not a new
// expected value.

func pinnedMembers() []events.Member {
	var ms []events.Member
	for _, n := range []string{"db-1", "db-2", "db-3", "db-4", "db-5", "db-6", "witness"} {
		role := "replica"
		if n == "witness" {
			role = "witness"
		}
		ms = append(ms, events.Member{Name: n, Status: "alive", Tags: map[string]string{"role": role}})
	}
	ms[5].Status = "failed"
	return ms
}

func TestRankIsPinned(t *testing.T) {
	for _, tc := range []struct {
		hook, key, subject string
		eligible           map[string]string
		want               []string
	}{
		{"promote", "db-1@dndxbwrck3ev.0:member-failed", "db-1", map[string]string{"role": "replica"}, []string{"db-2", "db-3", "db-4", "db-5"}},
		{"promote", "db-1@dndxbwrck3ev.1:member-failed", "db-1", map[string]string{"role": "replica"}, []string{"db-5", "db-3", "db-4", "db-2"}},
		{"fence-old", "db-2@b7.3:member-failed", "db-2", nil, []string{"witness", "db-1", "db-4", "db-5", "db-3"}},
	} {
		if got := Rank(tc.hook, tc.key, tc.subject, tc.eligible, pinnedMembers()); !equal(got, tc.want) {
			t.Errorf("Rank(%q, %q) = %q, want %q: the runner choice changed between versions", tc.hook, tc.key, got, tc.want)
		}
	}
	if got := rendezvousScore("promote", "db-1@b1.0:member-failed", "db-2"); got != 0x8e9431ab67c50011 {
		t.Errorf("rendezvousScore = %#x, want %#x", got, uint64(0x8e9431ab67c50011))
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFailureKeyIsPinned(t *testing.T) {
	m := events.Member{Name: "db-1", Tags: map[string]string{events.BootTag: "dndxbwrck3ev", events.EpochTag: "4", events.HealthSeqTag: "17"}}
	for _, tc := range []struct {
		ev   events.Event
		want string
	}{
		{events.Event{ID: 9, Type: events.MemberFailed, Members: []events.Member{m}}, "db-1@dndxbwrck3ev.4:member-failed"},
		{events.Event{ID: 9, Type: events.MemberFailed, Members: []events.Member{{Name: "old"}}}, "old@0.0:member-failed"},
		{events.Event{ID: 9, Type: events.Health, Members: []events.Member{m}, Health: &events.HealthChange{Status: "critical"}}, "db-1@dndxbwrck3ev.4:health:critical:17"},
		{events.Event{ID: 9, Type: events.User}, "event-9"},
	} {
		if got := FailureKey(&tc.ev); got != tc.want {
			t.Errorf("FailureKey(%s) = %q, want %q", tc.ev.Type, got, tc.want)
		}
	}
}

func TestClaimWireFormatIsPinned(t *testing.T) {
	g, err := OpenGrants(filepath.Join(t.TempDir(), GrantsFile))
	if err != nil {
		t.Fatal(err)
	}
	g.now = func() time.Time { return time.Unix(1765000000, 0) }
	for _, step := range []struct{ request, answer string }{
		{`{"op":"claim","h":"promote","k":"db-1@b1.0:member-failed","n":"db-2","b":"b2","t":1765000000000,"l":10000}`, `{"g":true,"t":1765000000000}`},
		{`{"op":"claim","h":"promote","k":"db-1@b1.0:member-failed","n":"db-3","b":"b3","t":1765000000001,"l":10000}`, `{"hn":"db-2","t":1765000000000,"lm":10000}`},
		{`{"op":"done","h":"promote","k":"db-1@b1.0:member-failed","n":"db-2","b":"b2","t":1765000000000,"o":"ok"}`, `{"g":true,"d":true,"hn":"db-2","t":1765000000000,"o":"ok"}`},
		{`{"op":"claim","h":"promote","k":"db-1@b1.0:member-failed","n":"db-4","b":"b4","t":1765000000002,"l":10000}`, `{"d":true,"hn":"db-2","t":1765000000000,"o":"ok"}`},
	} {
		if got := string(g.Handle([]byte(step.request))); got != step.answer {
			t.Errorf("request %s: answer %s, want %s", step.request, got, step.answer)
		}
	}
	a, _ := json.Marshal(Announcement{Hook: "promote", Key: "db-1@b1.0:member-failed", Runner: "db-2", Outcome: events.OutcomeOK, Fence: 1765000000000})
	if got, want := string(a), `{"h":"promote","k":"db-1@b1.0:member-failed","r":"db-2","o":"ok","f":1765000000000}`; got != want {
		t.Errorf("announcement %s, want %s", got, want)
	}
}
