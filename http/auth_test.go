package http

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
)

// keyAgent is a fakeAgent that also manages keys, answering each call with
// resp and err.
type keyAgent struct {
	*fakeAgent
	resp  KeysResponse
	err   error
	calls []string
}

func (k *keyAgent) ListKeys() (KeysResponse, error) {
	k.calls = append(k.calls, "list")
	return k.resp, k.err
}

func (k *keyAgent) InstallKey(key string) (KeysResponse, error) {
	k.calls = append(k.calls, "install "+key)
	return k.resp, k.err
}

func (k *keyAgent) UseKey(key string) (KeysResponse, error) {
	k.calls = append(k.calls, "use "+key)
	return k.resp, k.err
}

func (k *keyAgent) RemoveKey(key string) (KeysResponse, error) {
	k.calls = append(k.calls, "remove "+key)
	return k.resp, k.err
}

const testToken = "s3cret-token-0123456789"

// do sends one request and returns the status and body.
func do(t *testing.T, base, method, path, body, auth string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestTokenRequiredOnChanges(t *testing.T) {
	ka := &keyAgent{fakeAgent: newFakeAgent(), resp: KeysResponse{NumNodes: 1, NumResponses: 1, Keys: map[string]int{"k": 1}}}
	ts := httptest.NewServer(New(ka, zerolog.Nop(), WithToken(testToken)).Handler())
	defer ts.Close()
	bearer := "Bearer " + testToken

	cases := []struct {
		name, method, path, body, auth string
		status                         int
		errHas                         string
	}{
		{name: "GET stays open", method: "GET", path: "/v1/members", status: 200},
		{name: "healthz open", method: "GET", path: "/healthz", status: 200},
		{name: "event without token", method: "POST", path: "/v1/event", body: `{"name":"x"}`, status: 401, errHas: "missing token"},
		{name: "event wrong token", method: "POST", path: "/v1/event", body: `{"name":"x"}`, auth: "Bearer nope", status: 401, errHas: "invalid token"},
		{name: "event token as basic", method: "POST", path: "/v1/event", body: `{"name":"x"}`, auth: "Basic " + testToken, status: 401, errHas: "missing token"},
		{name: "event with token", method: "POST", path: "/v1/event", body: `{"name":"x"}`, auth: bearer, status: 200},
		{name: "scheme case-insensitive", method: "POST", path: "/v1/event", body: `{"name":"x"}`, auth: "bearer " + testToken, status: 200},
		{name: "join without token", method: "POST", path: "/v1/join", body: `{"addrs":["10.0.0.1:7946"]}`, status: 401},
		{name: "leave without token", method: "POST", path: "/v1/leave", status: 401},
		{name: "ttl without token", method: "PUT", path: "/v1/checks/ttl/pass", status: 401},
		{name: "maintenance without token", method: "PUT", path: "/v1/maintenance", body: `{"enable":true}`, status: 401},
		{name: "failover release without token", method: "POST", path: "/v1/failover/release", status: 401},
		{name: "keys list needs token too", method: "GET", path: "/v1/keys", status: 401},
		{name: "hook runs need token", method: "GET", path: "/v1/hooks", status: 401, errHas: "missing token"},
		{name: "hook runs with token", method: "GET", path: "/v1/hooks", auth: bearer, status: 200},
		{name: "keys list with token", method: "GET", path: "/v1/keys", auth: bearer, status: 200},
		{name: "keys install without token", method: "POST", path: "/v1/keys/install", body: `{"key":"k"}`, status: 401},
		{name: "unknown path POST without token", method: "POST", path: "/v1/nope", status: 401},
		{name: "metrics off is 404", method: "GET", path: "/metrics", status: 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, h := do(t, ts.URL, tc.method, tc.path, tc.body, tc.auth)
			if status != tc.status {
				t.Fatalf("status %d, want %d; body %s", status, tc.status, body)
			}
			if status == 401 {
				var e ErrorResponse
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
					t.Errorf("401 body %q is not {\"error\": ...}", body)
				}
				if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", h.Get("WWW-Authenticate"))
				}
			}
			if tc.errHas != "" && !strings.Contains(body, tc.errHas) {
				t.Errorf("body %s does not contain %q", body, tc.errHas)
			}
		})
	}
	if n := len(ka.fakeAgent.userEvents); n != 2 {
		t.Errorf("%d user events fired, want 2 (only the requests with the token)", n)
	}
	if ka.fakeAgent.leaves != 0 {
		t.Errorf("Leave called without a token")
	}
}

func TestNoTokenLeavesAPIOpen(t *testing.T) {
	ts := httptest.NewServer(New(newFakeAgent(), zerolog.Nop(), WithToken("")).Handler())
	defer ts.Close()
	if status, body, _ := do(t, ts.URL, "POST", "/v1/event", `{"name":"x"}`, ""); status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
}

func TestKeyEndpoints(t *testing.T) {
	cases := []struct {
		name       string
		resp       KeysResponse
		err        error
		method     string
		path, body string
		status     int
		has        string
		not        string // must not be in the body
	}{
		// Fingerprints, never keys: the first 8 hex digits of the SHA-256
		// of the key's bytes (echo KEY | base64 -d | sha256sum).
		{name: "list shows fingerprints", method: "GET", path: "/v1/keys", status: 200,
			resp: KeysResponse{NumNodes: 3, NumResponses: 3,
				Keys:        map[string]int{"AAAAAAAAAAAAAAAAAAAAAA==": 3, "tLrnAwf6dL33NohQ0e2EM29HSzyPIt6V32SAi2s+C1w=": 1},
				PrimaryKeys: map[string]int{"AAAAAAAAAAAAAAAAAAAAAA==": 3}},
			has: `"keys":{"374708ff":3,"5f0d7d2f":1},"primary_keys":{"374708ff":3}}`,
			not: "AAAAAAAAAAAAAAAAAAAAAA"},
		{name: "install", method: "POST", path: "/v1/keys/install", body: `{"key":"k1"}`, status: 200,
			resp: KeysResponse{NumNodes: 3, NumResponses: 3}, has: `"messages":{}`},
		{name: "partial failure is 502 with counts", method: "POST", path: "/v1/keys/use", body: `{"key":"k1"}`, status: 502,
			resp: KeysResponse{Error: "1/3 nodes reported failure", NumNodes: 3, NumResponses: 3, NumErrors: 1, Messages: map[string]string{"c": "requested key is not in the keyring"}},
			has:  `"num_errors":1`},
		{name: "bad request", method: "POST", path: "/v1/keys/remove", body: `{"key":"k1"}`, status: 400,
			err: fmt.Errorf("%w: key is the primary key", ErrKeyRequest), has: "primary key"},
		{name: "other error is 500", method: "GET", path: "/v1/keys", status: 500, err: fmt.Errorf("gossip is not running"), has: "not running"},
		{name: "missing key", method: "POST", path: "/v1/keys/install", body: `{}`, status: 400, has: "missing field"},
		{name: "unknown action", method: "POST", path: "/v1/keys/rotate", body: `{"key":"k"}`, status: 404, has: "install"},
		{name: "wrong method", method: "GET", path: "/v1/keys/install", status: 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ka := &keyAgent{fakeAgent: newFakeAgent(), resp: tc.resp, err: tc.err}
			ts := httptest.NewServer(New(ka, zerolog.Nop()).Handler())
			defer ts.Close()
			status, body, _ := do(t, ts.URL, tc.method, tc.path, tc.body, "")
			if status != tc.status {
				t.Fatalf("status %d, want %d; body %s", status, tc.status, body)
			}
			if !strings.Contains(body, tc.has) {
				t.Errorf("body %s does not contain %s", body, tc.has)
			}
			if tc.not != "" && strings.Contains(body, tc.not) {
				t.Errorf("body %s contains %s", body, tc.not)
			}
		})
	}
	// An agent without a keyring answers 501.
	ts := httptest.NewServer(New(newFakeAgent(), zerolog.Nop()).Handler())
	defer ts.Close()
	if status, body, _ := do(t, ts.URL, "GET", "/v1/keys", "", ""); status != 501 {
		t.Errorf("agent without KeyManager: status %d, body %s", status, body)
	}
}

// TestHookOutputRedacted: GET /v1/hooks, which needs the token when there
// is one, shows hook output and errors with the API token replaced by
// [redacted]; the agent's own run history is left as it was.
func TestHookOutputRedacted(t *testing.T) {
	f := newFakeAgent()
	f.runs = []events.Run{
		{Hook: "clean", Output: "all good\n"},
		{Hook: "leaky", Output: "calling back with " + testToken + "\nand again " + testToken + "\n", Error: "exit: " + testToken},
		{Hook: "after", Output: "fine\n"},
	}
	tests := []struct {
		name    string
		opts    []Option
		auth    string
		leaks   bool
		outputs []string
	}{
		{name: "with a token", opts: []Option{WithToken(testToken)}, auth: "Bearer " + testToken,
			outputs: []string{"all good\n", "calling back with [redacted]\nand again [redacted]\n", "fine\n"}},
		{name: "without", leaks: true,
			outputs: []string{"all good\n", "calling back with " + testToken + "\nand again " + testToken + "\n", "fine\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(New(f, zerolog.Nop(), tt.opts...).Handler())
			defer ts.Close()
			status, body, _ := do(t, ts.URL, "GET", "/v1/hooks", "", tt.auth)
			if status != 200 {
				t.Fatalf("GET /v1/hooks: %d %s", status, body)
			}
			if strings.Contains(body, testToken) != tt.leaks {
				t.Errorf("token in the body: %v, want %v: %s", !tt.leaks, tt.leaks, body)
			}
			var runs []events.Run
			if err := json.Unmarshal([]byte(body), &runs); err != nil || len(runs) != 3 {
				t.Fatalf("runs %v: %s", err, body)
			}
			for i, want := range tt.outputs {
				if runs[i].Output != want {
					t.Errorf("run %d output %q, want %q", i, runs[i].Output, want)
				}
			}
			if !tt.leaks && runs[1].Error != "exit: [redacted]" {
				t.Errorf("error %q", runs[1].Error)
			}
		})
	}
	if !strings.Contains(f.runs[1].Output, testToken) {
		t.Error("the agent's run history was changed")
	}
}
