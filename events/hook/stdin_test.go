package hook

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"
)

func TestSerfStdin(t *testing.T) {
	tests := []struct {
		name string
		ev   events.Event
		want string
	}{
		{
			name: "member event, serf's line with sorted tags",
			ev: events.Event{Type: events.MemberFailed, Members: []events.Member{{Name: "db-1", Addr: "10.0.0.5", Port: 7946,
				Tags: map[string]string{"role": "primary", "dc": "east"}}}},
			want: "db-1\t10.0.0.5\tprimary\tdc=east,role=primary\n",
		},
		{
			name: "no tags",
			ev:   events.Event{Type: events.MemberJoin, Members: []events.Member{{Name: "a", Addr: "127.0.0.1"}}},
			want: "a\t127.0.0.1\t\t\n",
		},
		{
			name: "hostile name and tags cannot add lines or fields",
			ev: events.Event{Type: events.MemberJoin, Members: []events.Member{{Name: "evil\nroot\t1.2.3.4", Addr: "127.0.0.1",
				Tags: map[string]string{"role": "x\ny", "k": "v\tw"}}}},
			want: "evil\\nroot\\t1.2.3.4\t127.0.0.1\tx\\ny\tk=v\\tw,role=x\\ny\n",
		},
		{
			name: "user event payload gets a newline",
			ev:   events.Event{Type: events.User, User: &events.UserEvent{Name: "deploy", Payload: "v1.2"}},
			want: "v1.2\n",
		},
		{
			name: "user event payload keeps its newline",
			ev:   events.Event{Type: events.User, User: &events.UserEvent{Name: "deploy", Payload: "a\nb\n"}},
			want: "a\nb\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(SerfStdin(&tt.ev)); got != tt.want {
				t.Errorf("SerfStdin = %q, want %q", got, tt.want)
			}
			if tt.ev.User == nil {
				if n := strings.Count(string(SerfStdin(&tt.ev)), "\n"); n != len(tt.ev.Members) {
					t.Errorf("%d lines for %d members", n, len(tt.ev.Members))
				}
			}
		})
	}
}

func TestJSONStdin(t *testing.T) {
	ev := events.Event{ID: 7, Type: events.MemberFailed, Time: time.Unix(100, 0).UTC(),
		Members: []events.Member{{Name: "db-1", Addr: "10.0.0.5", Port: 7946, Status: "failed", Tags: map[string]string{"role": "primary"}}}}
	self := events.Member{Name: "db-2", Addr: "10.0.0.6", Port: 7946, Status: "alive"}
	b, err := JSONStdin(&ev, self)
	if err != nil {
		t.Fatal(err)
	}
	var doc StdinDocument
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("stdin is not JSON: %v: %s", err, b)
	}
	if doc.ID != 7 || doc.Event != events.MemberFailed || doc.Self.Name != "db-2" || len(doc.Members) != 1 ||
		doc.Members[0].Name != "db-1" || doc.Members[0].Tags["role"] != "primary" || doc.UserEvent != nil {
		t.Errorf("unexpected document %+v", doc)
	}
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	for _, k := range []string{"id", "event", "time", "self", "members"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("stdin lacks key %q: %s", k, b)
		}
	}
}

func TestHookEnvHostileValues(t *testing.T) {
	ev := events.Event{ID: 3, Type: events.MemberJoin, Members: []events.Member{{Name: "x\nVIGIL_EVENT=member-failed", Addr: "127.0.0.1", Port: 1}}}
	self := events.Member{Name: "me\x00=evil", Tags: map[string]string{"role": "a\"b'c", "we-ird.key": "v=w\nX=1"}}
	env := HookEnv(&ev, self, "127.0.0.1:7947")
	got := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := got[k]; dup {
			t.Errorf("variable %s set twice", k)
		}
		got[k] = v
		if strings.ContainsRune(kv, 0) {
			t.Errorf("NUL byte in %q", kv)
		}
	}
	want := map[string]string{
		"VIGIL_EVENT":         "member-join",
		"VIGIL_EVENT_ID":      "3",
		"VIGIL_MEMBER_NAME":   "x\nVIGIL_EVENT=member-failed",
		"VIGIL_SELF_NAME":     "me=evil",
		"SERF_SELF_ROLE":      "a\"b'c",
		"SERF_TAG_WE_IRD_KEY": "v=w\nX=1",
		"VIGIL_HTTP_ADDR":     "127.0.0.1:7947",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
