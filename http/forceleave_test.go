package http

import (
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/rs/zerolog"
)

func TestForceLeave(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "failed member", method: "POST", path: "/v1/force-leave", body: `{"name":"bravo"}`,
			status: 200, want: `{"name":"bravo","pruned":false}`,
			check: func(t *testing.T, f *fakeAgent) {
				if want := []string{"bravo false"}; !reflect.DeepEqual(f.forceLeaves, want) {
					t.Errorf("ForceLeave calls %q, want %q", f.forceLeaves, want)
				}
			}},
		{name: "prune", method: "POST", path: "/v1/force-leave", body: `{"name":"charlie","prune":true}`,
			status: 200, want: `{"name":"charlie","pruned":true}`,
			check: func(t *testing.T, f *fakeAgent) {
				if want := []string{"charlie true"}; !reflect.DeepEqual(f.forceLeaves, want) {
					t.Errorf("ForceLeave calls %q, want %q", f.forceLeaves, want)
				}
			}},
		{name: "empty name", method: "POST", path: "/v1/force-leave", body: `{"name":""}`, status: 400, errHas: `missing field "name"`},
		{name: "no name", method: "POST", path: "/v1/force-leave", body: `{"prune":true}`, status: 400, errHas: `missing field "name"`},
		{name: "no body", method: "POST", path: "/v1/force-leave", status: 400, errHas: "request body is empty"},
		{name: "unknown field", method: "POST", path: "/v1/force-leave", body: `{"node":"bravo"}`, status: 400, errHas: `unknown field "node"`},
		{name: "unknown member", method: "POST", path: "/v1/force-leave", body: `{"name":"zulu"}`, status: 404, errHas: `force-leave "zulu": unknown member`},
		{name: "alive member", method: "POST", path: "/v1/force-leave", body: `{"name":"alpha"}`, status: 409, errHas: `force-leave "alpha": it is alive: member is not failed`,
			check: func(t *testing.T, f *fakeAgent) {
				if len(f.forceLeaves) != 0 {
					t.Errorf("alive member forced out: %q", f.forceLeaves)
				}
			}},
		{name: "other error", setup: func(f *fakeAgent) { f.forceErr = errFake },
			method: "POST", path: "/v1/force-leave", body: `{"name":"bravo"}`, status: 500, errHas: "fake failure"},
		{name: "GET not allowed", method: "GET", path: "/v1/force-leave", status: 405, allow: "POST", errHas: "method GET not allowed"},
	})
}

func TestForceLeaveNeedsToken(t *testing.T) {
	f := newFakeAgent()
	ts := httptest.NewServer(New(f, zerolog.Nop(), WithToken(testToken)).Handler())
	defer ts.Close()
	if status, body, _ := do(t, ts.URL, "POST", "/v1/force-leave", `{"name":"bravo"}`, ""); status != 401 {
		t.Errorf("without a token: %d %s, want 401", status, body)
	}
	if status, body, _ := do(t, ts.URL, "POST", "/v1/force-leave", `{"name":"bravo"}`, "Bearer wrong-token-0123456789"); status != 401 {
		t.Errorf("with a wrong token: %d %s, want 401", status, body)
	}
	f.mu.Lock()
	n := len(f.forceLeaves)
	f.mu.Unlock()
	if n != 0 {
		t.Fatalf("ForceLeave ran without a valid token: %d calls", n)
	}
	if status, body, _ := do(t, ts.URL, "POST", "/v1/force-leave", `{"name":"bravo"}`, "Bearer "+testToken); status != 200 {
		t.Errorf("with the token: %d %s, want 200", status, body)
	}
}
