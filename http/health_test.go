package http

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/probes"
)

// The fake's instances carry their service in a "service" tag, so one list
// serves several services.
func withInstances(f *fakeAgent) {
	f.instances = []Instance{
		{Node: "n1", Addr: "10.0.0.1", Port: 8080, Tags: map[string]string{"service": "web"}, Health: "passing", Status: "alive"},
		{Node: "n2", Addr: "10.0.0.2", Port: 8080, Tags: map[string]string{"service": "web"}, Health: "critical", Status: "alive"},
		{Node: "n3", Addr: "10.0.0.3", Port: 8080, Tags: map[string]string{"service": "web"}, Health: "passing", Status: "failed"},
		{Node: "n4", Addr: "10.0.0.4", Port: 8081, Tags: map[string]string{"service": "web"}, Health: "passing", Status: "alive"},
		{Node: "n5", Addr: "10.0.0.5", Port: 8080, Tags: map[string]string{"service": "web"}, Health: "maintenance", Status: "alive"},
		{Node: "d1", Addr: "10.0.0.6", Port: 5432, Tags: map[string]string{"service": "db"}, Health: "critical", Status: "alive"},
	}
	f.checks = []probes.State{{ID: "heartbeat", Kind: "ttl", Status: probes.Critical}, {ID: "web-http", Kind: "http", Status: probes.Passing}}
}

func TestHealthAPI(t *testing.T) {
	n1 := `{"node":"n1","addr":"10.0.0.1","port":8080,"tags":{"service":"web"},"health":"passing","status":"alive"}`
	n4 := `{"node":"n4","addr":"10.0.0.4","port":8081,"tags":{"service":"web"},"health":"passing","status":"alive"}`
	cases := []apiCase{
		{name: "checks", setup: withInstances, method: "GET", path: "/v1/checks", status: 200},
		{name: "checks none is empty array", method: "GET", path: "/v1/checks", status: 200, want: "[]"},
		{name: "ttl pass with note", setup: withInstances, method: "PUT", path: "/v1/checks/heartbeat/pass", body: `{"note":"fine"}`,
			status: 200, want: `{"id":"heartbeat","status":"passing"}`,
			check: func(t *testing.T, f *fakeAgent) {
				if !reflect.DeepEqual(f.ttl, []string{"heartbeat passing fine"}) {
					t.Errorf("ttl updates %q", f.ttl)
				}
			}},
		{name: "ttl warn without body", setup: withInstances, method: "PUT", path: "/v1/checks/heartbeat/warn", status: 200},
		{name: "ttl fail", setup: withInstances, method: "PUT", path: "/v1/checks/heartbeat/fail", status: 200, want: `{"id":"heartbeat","status":"critical"}`},
		{name: "ttl unknown check", setup: withInstances, method: "PUT", path: "/v1/checks/nope/pass", status: 404, errHas: "nope"},
		{name: "ttl on non-ttl check", setup: withInstances, method: "PUT", path: "/v1/checks/web-http/pass", status: 400, errHas: "web-http"},
		{name: "ttl unknown action", setup: withInstances, method: "PUT", path: "/v1/checks/heartbeat/maybe", status: 404, errHas: "pass"},
		{name: "ttl bad body", setup: withInstances, method: "PUT", path: "/v1/checks/heartbeat/pass", body: `{"nope":1}`, status: 400, errHas: "unknown field"},
		{name: "ttl wrong method", setup: withInstances, method: "POST", path: "/v1/checks/heartbeat/pass", status: 405, allow: "PUT", errHas: "POST"},
		{name: "service all", setup: withInstances, method: "GET", path: "/v1/health/service/db", status: 200,
			want: `[{"node":"d1","addr":"10.0.0.6","port":5432,"tags":{"service":"db"},"health":"critical","status":"alive"}]`},
		{name: "service passing only alive and passing", setup: withInstances, method: "GET", path: "/v1/health/service/web?passing", status: 200,
			want: "[" + n1 + "," + n4 + "]"},
		{name: "service passing=false lists all", setup: withInstances, method: "GET", path: "/v1/health/service/db?passing=false", status: 200,
			want: `[{"node":"d1","addr":"10.0.0.6","port":5432,"tags":{"service":"db"},"health":"critical","status":"alive"}]`},
		{name: "service passing=maybe", setup: withInstances, method: "GET", path: "/v1/health/service/db?passing=maybe", status: 400, errHas: "maybe"},
		{name: "service unknown is empty", setup: withInstances, method: "GET", path: "/v1/health/service/nope", status: 200, want: "[]"},
		{name: "pick none passing", setup: withInstances, method: "GET", path: "/v1/pick/db", status: 503, errHas: `no passing instance of service "db"`},
		{name: "pick bad strategy", setup: withInstances, method: "GET", path: "/v1/pick/web?strategy=fastest", status: 400, errHas: "fastest"},
		{name: "pick nearest", setup: func(f *fakeAgent) {
			withInstances(f)
			f.rtt = map[string]time.Duration{"n1": 5 * time.Millisecond, "n4": time.Millisecond}
		}, method: "GET", path: "/v1/pick/web?strategy=nearest", status: 200, want: n4},
		{name: "maintenance on", setup: withInstances, method: "PUT", path: "/v1/maintenance", body: `{"enable":true,"reason":"upgrade"}`,
			status: 200, want: `{"maintenance":true}`,
			check: func(t *testing.T, f *fakeAgent) {
				if !reflect.DeepEqual(f.maintenance, []string{"true upgrade"}) {
					t.Errorf("maintenance calls %q", f.maintenance)
				}
			}},
		{name: "maintenance missing enable", method: "PUT", path: "/v1/maintenance", body: `{"reason":"x"}`, status: 400, errHas: `"enable"`},
		{name: "maintenance refused", setup: func(f *fakeAgent) { f.maintErr = errFake }, method: "PUT", path: "/v1/maintenance",
			body: `{"enable":true}`, status: 400, errHas: "fake failure"},
	}
	runAPICases(t, cases)
}

func TestFailoverAPI(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "status", method: "GET", path: "/v1/failover", status: 200,
			want: `{"brake":false,"damped":{},"quorum":true,"pending":[]}`},
		{name: "release engaged brake", setup: func(f *fakeAgent) { f.brake = true }, method: "POST", path: "/v1/failover/release",
			status: 200, want: `{"released":true}`},
		{name: "release without brake", method: "POST", path: "/v1/failover/release", status: 200, want: `{"released":false}`},
		{name: "release wrong method", method: "GET", path: "/v1/failover/release", status: 405, allow: "POST", errHas: "GET"},
		{name: "reload", method: "POST", path: "/v1/reload", status: 200,
			want: `{"hooks_added":["new"],"hooks_changed":[],"hooks_removed":[],"checks_changed":false,"needs_restart":[]}`},
		{name: "reload refused", setup: func(f *fakeAgent) { f.reloadErr = errFake }, method: "POST", path: "/v1/reload", status: 400, errHas: "reload: fake failure"},
	})
}

func TestPickNeverReturnsUnhealthy(t *testing.T) {
	f := newFakeAgent()
	withInstances(f)
	h := New(f, zerolog.Nop()).Handler()
	for _, strategy := range PickStrategies {
		seen := map[string]int{}
		for i := 0; i < 200; i++ {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, localRequest("GET", "/v1/pick/web?strategy="+strategy, nil))
			if rec.Code != 200 {
				t.Fatalf("%s: status %d %s", strategy, rec.Code, rec.Body)
			}
			var in Instance
			decodeInto(t, rec.Body.Bytes(), &in)
			seen[in.Node]++
		}
		for node := range seen {
			if node != "n1" && node != "n4" {
				t.Errorf("%s picked %s, which is not passing", strategy, node)
			}
		}
		if strategy != "nearest" && (seen["n1"] == 0 || seen["n4"] == 0) {
			t.Errorf("%s never spread over both passing instances: %v", strategy, seen)
		}
		if strategy == "round_robin" && seen["n1"] != 100 {
			t.Errorf("round_robin split %v, want 100/100", seen)
		}
	}
}

func decodeInto(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
