package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-agent/vigil/events"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// publishCanned puts three events with fixed times in the fake's ring.
func publishCanned(f *fakeAgent) {
	f.ring.Publish(events.Event{Type: events.MemberJoin, Time: t0, Members: []events.Member{{Name: "alpha", Addr: "10.0.0.1", Port: 7946, Status: "alive"}}})
	f.ring.Publish(events.Event{Type: events.MemberFailed, Time: t0.Add(time.Second), Members: []events.Member{{Name: "bravo", Addr: "10.0.0.2", Port: 7946, Status: "failed"}}})
	f.ring.Publish(events.Event{Type: events.User, Time: t0.Add(2 * time.Second), User: &events.UserEvent{Name: "deploy", Payload: "v2", LTime: 7}})
}

const (
	memberAlpha   = `{"name":"alpha","addr":"10.0.0.1","port":7946,"status":"alive","tags":{"role":"web","dc":"east"}}`
	memberBravo   = `{"name":"bravo","addr":"10.0.0.2","port":7946,"status":"failed","tags":{}}`
	memberCharlie = `{"name":"charlie","addr":"10.0.0.3","port":7950,"status":"left","tags":{}}`
	event1        = `{"id":1,"event":"member-join","time":"2024-05-01T12:00:00Z","members":[{"name":"alpha","addr":"10.0.0.1","port":7946,"status":"alive","tags":null}]}`
	event2        = `{"id":2,"event":"member-failed","time":"2024-05-01T12:00:01Z","members":[{"name":"bravo","addr":"10.0.0.2","port":7946,"status":"failed","tags":null}]}`
	event3        = `{"id":3,"event":"user","time":"2024-05-01T12:00:02Z","user_event":{"name":"deploy","payload":"v2","ltime":7}}`
)

type apiCase struct {
	name   string
	setup  func(f *fakeAgent)
	method string
	path   string
	body   string
	status int
	// want is the whole JSON body, compared by value; empty skips it.
	want string
	// errHas must appear in the body's "error"; set for error answers.
	errHas string
	// allow is the Allow header a 405 must carry.
	allow string
	check func(t *testing.T, f *fakeAgent)
}

func TestAPI(t *testing.T) {
	big := `{"name":"x","payload":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	big = big[:MaxBodyBytes+1]
	cases := []apiCase{
		// Success shapes.
		{name: "members", method: "GET", path: "/v1/members", status: 200,
			want: "[" + memberAlpha + "," + memberBravo + "," + memberCharlie + "]"},
		{name: "members status alive", method: "GET", path: "/v1/members?status=alive", status: 200, want: "[" + memberAlpha + "]"},
		{name: "members status failed", method: "GET", path: "/v1/members?status=failed", status: 200, want: "[" + memberBravo + "]"},
		{name: "members status left", method: "GET", path: "/v1/members?status=left", status: 200, want: "[" + memberCharlie + "]"},
		{name: "members status leaving none", method: "GET", path: "/v1/members?status=leaving", status: 200, want: "[]"},
		{name: "members none is empty array", setup: func(f *fakeAgent) { f.members = nil },
			method: "GET", path: "/v1/members", status: 200, want: "[]"},
		{name: "self", method: "GET", path: "/v1/self", status: 200,
			want: `{"name":"alpha","addr":"10.0.0.1","port":7946,"status":"alive","tags":{"role":"web","dc":"east"},"profile":"lan","version":"1.2.3","http_addr":"127.0.0.1:7947"}`},
		{name: "join", method: "POST", path: "/v1/join", body: `{"addrs":["10.0.0.9:7946","[::1]:7946","node-x.example:7946"]}`,
			status: 200, want: `{"joined":3}`,
			check: func(t *testing.T, f *fakeAgent) {
				want := [][]string{{"10.0.0.9:7946", "[::1]:7946", "node-x.example:7946"}}
				if !reflect.DeepEqual(f.joins, want) {
					t.Errorf("joins = %q, want %q", f.joins, want)
				}
			}},
		{name: "leave", method: "POST", path: "/v1/leave", status: 200, want: `{"leaving":true}`,
			check: func(t *testing.T, f *fakeAgent) {
				if f.leaves != 1 {
					t.Errorf("Leave called %d times, want 1", f.leaves)
				}
			}},
		{name: "event", method: "POST", path: "/v1/event", body: `{"name":"deploy","payload":"v2"}`, status: 200, want: `{"fired":true}`,
			check: func(t *testing.T, f *fakeAgent) {
				want := []events.UserEvent{{Name: "deploy", Payload: "v2"}}
				if !reflect.DeepEqual(f.userEvents, want) {
					t.Errorf("user events = %+v, want %+v", f.userEvents, want)
				}
			}},
		{name: "event without payload", method: "POST", path: "/v1/event", body: `{"name":"ping"}`, status: 200, want: `{"fired":true}`},
		{name: "events", setup: publishCanned, method: "GET", path: "/v1/events", status: 200,
			want: "[" + event1 + "," + event2 + "," + event3 + "]"},
		{name: "events since", setup: publishCanned, method: "GET", path: "/v1/events?since=2", status: 200, want: "[" + event3 + "]"},
		{name: "events since past end", setup: publishCanned, method: "GET", path: "/v1/events?since=99", status: 200, want: "[]"},
		{name: "events empty ring", method: "GET", path: "/v1/events", status: 200, want: "[]"},
		{name: "hooks none", method: "GET", path: "/v1/hooks", status: 200, want: "[]"},
		{name: "hooks", setup: func(f *fakeAgent) {
			f.runs = []events.Run{{Hook: "notify", EventID: 2, Event: events.MemberFailed, Member: "bravo", Start: t0, DurationMS: 1.5, Outcome: events.OutcomeOK, Output: "hi\n", OutputBytes: 3}}
		}, method: "GET", path: "/v1/hooks", status: 200,
			want: `[{"hook":"notify","event_id":2,"event":"member-failed","member":"bravo","start":"2024-05-01T12:00:00Z","duration_ms":1.5,"outcome":"ok","exit_code":0,"output":"hi\n","output_bytes":3}]`},
		{name: "healthz", method: "GET", path: "/healthz", status: 200, want: `{"status":"ok"}`},

		// Query errors.
		{name: "members bad status", method: "GET", path: "/v1/members?status=dead", status: 400, errHas: `"dead"`},
		{name: "events bad since", method: "GET", path: "/v1/events?since=abc", status: 400, errHas: `"abc"`},
		{name: "events negative since", method: "GET", path: "/v1/events?since=-1", status: 400, errHas: `"-1"`},
		{name: "stream bad since", method: "GET", path: "/v1/events/stream?since=x1", status: 400, errHas: `"x1"`},

		// Body errors.
		{name: "join empty body", method: "POST", path: "/v1/join", status: 400, errHas: "empty"},
		{name: "join missing addrs", method: "POST", path: "/v1/join", body: `{}`, status: 400, errHas: `"addrs"`},
		{name: "join empty addrs", method: "POST", path: "/v1/join", body: `{"addrs":[]}`, status: 400, errHas: `"addrs"`},
		{name: "join addr without port", method: "POST", path: "/v1/join", body: `{"addrs":["10.0.0.9:7946","10.0.0.8"]}`, status: 400, errHas: `"10.0.0.8"`,
			check: func(t *testing.T, f *fakeAgent) {
				if len(f.joins) != 0 {
					t.Errorf("Join was called with %q", f.joins)
				}
			}},
		{name: "join addr bad port", method: "POST", path: "/v1/join", body: `{"addrs":["10.0.0.9:gossip"]}`, status: 400, errHas: `"10.0.0.9:gossip"`},
		{name: "join addr without host", method: "POST", path: "/v1/join", body: `{"addrs":[":7946"]}`, status: 400, errHas: `":7946"`},
		{name: "join addrs wrong type", method: "POST", path: "/v1/join", body: `{"addrs":"10.0.0.9:7946"}`, status: 400, errHas: `"addrs"`},
		{name: "join fails", setup: func(f *fakeAgent) { f.joinErr = errFake }, method: "POST", path: "/v1/join",
			body: `{"addrs":["10.0.0.9:7946"]}`, status: 502, errHas: "fake failure"},
		{name: "leave fails", setup: func(f *fakeAgent) { f.leaveErr = errFake }, method: "POST", path: "/v1/leave", status: 500, errHas: "fake failure"},
		{name: "event missing name", method: "POST", path: "/v1/event", body: `{"payload":"x"}`, status: 400, errHas: `"name"`},
		{name: "event empty name", method: "POST", path: "/v1/event", body: `{"name":""}`, status: 400, errHas: `"name"`},
		{name: "event rejected by agent", setup: func(f *fakeAgent) { f.userErr = fmt.Errorf("user event exceeds limit of 512 bytes") },
			method: "POST", path: "/v1/event", body: `{"name":"x","payload":"y"}`, status: 400, errHas: "exceeds limit of 512 bytes"},
		{name: "malformed json", method: "POST", path: "/v1/event", body: `{"name":`, status: 400, errHas: "malformed JSON"},
		{name: "syntax error", method: "POST", path: "/v1/event", body: `{"name" "x"}`, status: 400, errHas: "malformed JSON"},
		{name: "unknown field", method: "POST", path: "/v1/event", body: `{"name":"x","colour":"red"}`, status: 400, errHas: `"colour"`},
		{name: "trailing data", method: "POST", path: "/v1/event", body: `{"name":"x"} {"name":"y"}`, status: 400, errHas: "after the JSON object"},
		{name: "trailing garbage", method: "POST", path: "/v1/event", body: `{"name":"x"}]`, status: 400, errHas: "after the JSON object"},
		{name: "trailing whitespace ok", method: "POST", path: "/v1/event", body: "{\"name\":\"x\"}\n\n", status: 200, want: `{"fired":true}`},
		{name: "not an object", method: "POST", path: "/v1/event", body: `["x"]`, status: 400, errHas: "JSON object"},
		{name: "body too large", method: "POST", path: "/v1/event", body: big, status: 413, errHas: "larger than 1048576 bytes",
			check: func(t *testing.T, f *fakeAgent) {
				if len(f.userEvents) != 0 {
					t.Errorf("UserEvent was called")
				}
			}},
		{name: "body too large after object", method: "POST", path: "/v1/event",
			body: `{"name":"x"}` + strings.Repeat(" ", MaxBodyBytes), status: 413, errHas: "larger than"},

		// Routing errors.
		{name: "get join", method: "GET", path: "/v1/join", status: 405, allow: "POST", errHas: "GET"},
		{name: "post members", method: "POST", path: "/v1/members", status: 405, allow: "GET", errHas: "POST"},
		{name: "delete healthz", method: "DELETE", path: "/healthz", status: 405, allow: "GET", errHas: "DELETE"},
		{name: "put stream", method: "PUT", path: "/v1/events/stream", status: 405, allow: "GET"},
		{name: "get event", method: "GET", path: "/v1/event", status: 405, allow: "POST"},
		{name: "unknown path", method: "GET", path: "/v1/nope", status: 404, errHas: "/v1/nope"},
		{name: "root", method: "GET", path: "/", status: 404},
		{name: "trailing slash", method: "GET", path: "/v1/members/", status: 404},
		{name: "subpath", method: "GET", path: "/v1/self/extra", status: 404},

		// Panics.
		{name: "panic", setup: func(f *fakeAgent) { f.panicMsg = "boom" }, method: "GET", path: "/v1/members", status: 500, errHas: "panicked"},
	}
	runAPICases(t, cases)
}

func assertJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body:\n got %s\nwant %s", bytes.TrimSpace(got), want)
	}
}

// TestRequestLog checks the debug line logged for each request.
func TestRequestLog(t *testing.T) {
	var buf bytes.Buffer
	log := zerolog.New(&buf).Level(zerolog.DebugLevel)
	h := New(newFakeAgent(), log).Handler()
	h.ServeHTTP(httptest.NewRecorder(), localRequest("GET", "/v1/members?status=bogus", nil))

	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	if line["level"] != "debug" || line["method"] != "GET" || line["path"] != "/v1/members" || line["status"] != float64(400) {
		t.Errorf("log line = %v", line)
	}
	if _, ok := line["duration_ms"].(float64); !ok {
		t.Errorf("log line has no numeric duration_ms: %v", line)
	}
}

// TestPanicLogged checks that a panic is logged with its value.
func TestPanicLogged(t *testing.T) {
	var buf bytes.Buffer
	f := newFakeAgent()
	f.panicMsg = "kaboom"
	h := New(f, zerolog.New(&buf)).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", "/v1/members", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d", rec.Code)
	}
	if !strings.Contains(buf.String(), "kaboom") || !strings.Contains(buf.String(), `"level":"error"`) {
		t.Errorf("panic not logged as an error: %s", buf.String())
	}
}

// runAPICases runs each case against a fresh fake agent.
func runAPICases(t *testing.T, cases []apiCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAgent()
			if tc.setup != nil {
				tc.setup(f)
			}
			h := New(f, zerolog.Nop()).Handler()
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req := localRequest(tc.method, tc.path, body)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tc.want != "" {
				assertJSON(t, rec.Body.Bytes(), tc.want)
			}
			if tc.status >= 400 {
				var e ErrorResponse
				dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&e); err != nil || e.Error == "" {
					t.Fatalf("error body %q is not {\"error\": ...}: %v", rec.Body, err)
				}
				if !strings.Contains(e.Error, tc.errHas) {
					t.Errorf("error %q does not contain %q", e.Error, tc.errHas)
				}
			}
			if tc.allow != "" {
				if got := rec.Header().Get("Allow"); got != tc.allow {
					t.Errorf("Allow = %q, want %q", got, tc.allow)
				}
			}
			if tc.check != nil {
				f.mu.Lock()
				defer f.mu.Unlock()
				tc.check(t, f)
			}
		})
	}
}
