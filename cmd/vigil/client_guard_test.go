package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	vigilhttp "github.com/vigil-agent/vigil/http"
)

// TestClientPassesBrowserGuard: the vigil commands that send a body or
// change something get through the API's browser guard (they send a JSON
// Content-Type, no Origin, and the -http-addr host as Host), by address
// and by the name localhost; a name the agent does not know is refused
// with the agent's explanation.
func TestClientPassesBrowserGuard(t *testing.T) {
	f, addr := startFakeAPI(t)
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		name string
		args []string
		want string // in the output; "" with wantErr
		err  string // in the error
	}{
		{name: "event", args: []string{"event", "-http-addr", addr, "deploy", "v1"}, want: `Fired user event "deploy"`},
		{name: "event via localhost", args: []string{"event", "-http-addr", "localhost:" + port, "deploy", "v2"}, want: `Fired user event "deploy"`},
		{name: "join", args: []string{"join", "-http-addr", addr, "10.0.0.8:7946"}, want: "Joined 1 member"},
		{name: "maintenance", args: []string{"maintenance", "-http-addr", addr, "-reason", "x", "on"}, want: "maintenance"},
		{name: "force-leave", args: []string{"force-leave", "-http-addr", addr, "bravo"}, want: "bravo"},
		{name: "leave", args: []string{"leave", "-http-addr", addr}, want: "leaving"},
		{name: "members", args: []string{"members", "-http-addr", addr}, want: "alpha"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runClient(t, tt.args...)
			if err != nil || !strings.Contains(got, tt.want) {
				t.Errorf("vigil %s: %q %v, want %q", strings.Join(tt.args, " "), got, err, tt.want)
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.fired) != 2 || len(f.joins) != 1 || len(f.maint) != 1 || len(f.forced) != 1 || f.leaves != 1 {
		t.Errorf("agent saw events %v, joins %v, maintenance %v, force-leaves %v, leaves %d", f.fired, f.joins, f.maint, f.forced, f.leaves)
	}
}

// TestClientMonitorWaitsForAStream: with the agent's streams all taken,
// vigil monitor says so once and retries, and streams once one is free.
func TestClientMonitorWaitsForAStream(t *testing.T) {
	f := &clientFakeAgent{ring: events.NewRing(0)}
	srv := vigilhttp.New(f, zerolog.Nop(), vigilhttp.WithMaxStreams(1))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	f.ring.Publish(events.Event{Type: events.MemberJoin, Members: []events.Member{{Name: "alpha"}}})

	holdCtx, release := context.WithCancel(t.Context())
	defer release()
	req, _ := http.NewRequestWithContext(holdCtx, "GET", ts.URL+"/v1/events/stream", nil)
	held, err := http.DefaultClient.Do(req)
	if err != nil || held.StatusCode != 200 {
		t.Fatalf("holding the one stream: %v %v", err, held)
	}
	defer held.Body.Close()

	var out, errOut clientBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- runClientCLI(ctx, &out, &errOut, "monitor", "-http-addr", ts.Listener.Addr().String()) }()
	t.Cleanup(func() { cancel(); <-done })
	clientWaitUntil(t, "the busy message", func() bool {
		return strings.Contains(errOut.String(), "vigil: too many event streams: this agent serves at most 1 at once (http_max_streams); close one, or retry later; retrying (Ctrl-C to stop)\n")
	})
	release()
	clientWaitUntil(t, "the backlog after the stream was freed", func() bool { return strings.Contains(out.String(), "alpha") })
	if n := strings.Count(errOut.String(), "too many event streams"); n != 1 {
		t.Errorf("the busy message was printed %d times:\n%s", n, errOut.String())
	}
}

// keysFakeAgent is a clientFakeAgent whose cluster has two keys.
type keysFakeAgent struct{ *clientFakeAgent }

func (keysFakeAgent) ListKeys() (vigilhttp.KeysResponse, error) {
	return vigilhttp.KeysResponse{NumNodes: 3, NumResponses: 3,
		Keys:        map[string]int{"wyTFF5dX1pFGqaMs9b0HrI9DwL013lxfax6uxN8lP9g=": 3, "tLrnAwf6dL33NohQ0e2EM29HSzyPIt6V32SAi2s+C1w=": 2},
		PrimaryKeys: map[string]int{"wyTFF5dX1pFGqaMs9b0HrI9DwL013lxfax6uxN8lP9g=": 3}}, nil
}
func (keysFakeAgent) InstallKey(string) (vigilhttp.KeysResponse, error) {
	return vigilhttp.KeysResponse{}, nil
}
func (keysFakeAgent) UseKey(string) (vigilhttp.KeysResponse, error) {
	return vigilhttp.KeysResponse{}, nil
}
func (keysFakeAgent) RemoveKey(string) (vigilhttp.KeysResponse, error) {
	return vigilhttp.KeysResponse{}, nil
}

// TestClientKeysListShowsFingerprints: vigil keys list prints each key's
// fingerprint (the first 8 hex digits of its SHA-256), never the key, in
// the table and in JSON.
func TestClientKeysListShowsFingerprints(t *testing.T) {
	f := keysFakeAgent{&clientFakeAgent{ring: events.NewRing(0)}}
	srv := vigilhttp.New(f, zerolog.Nop())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	addr := ts.Listener.Addr().String()

	got, err := runClient(t, "keys", "list", "-http-addr", addr)
	want := "" +
		"FINGERPRINT  INSTALLED  PRIMARY\n" +
		"31106dfe     3/3        3/3\n" +
		"5f0d7d2f     2/3        0/3\n"
	if err != nil || got != want {
		t.Errorf("keys list: %v\n%s\nwant:\n%s", err, got, want)
	}
	got, err = runClient(t, "keys", "list", "-format", "json", "-http-addr", addr)
	if err != nil || !strings.Contains(got, `"31106dfe": 3`) || strings.Contains(got, "wyTFF5") || strings.Contains(got, "tLrnAw") {
		t.Errorf("keys list -format json: %v\n%s", err, got)
	}
}

// TestDocKeysListTable: the vigil keys list table of http-api.md is what
// the command prints for the docs' one-member cluster.
func TestDocKeysListTable(t *testing.T) {
	b, err := os.ReadFile("../../docs/http-api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "```\nFINGERPRINT")
	if i < 0 {
		t.Fatal("http-api.md has no vigil keys list table")
	}
	want := doc[i+4:]
	want = want[:strings.Index(want, "```")]

	f := docKeysAgent{keysFakeAgent{&clientFakeAgent{ring: events.NewRing(0)}}}
	srv := vigilhttp.New(f, zerolog.Nop())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	got, err := runClient(t, "keys", "list", "-http-addr", ts.Listener.Addr().String())
	if err != nil || got != want {
		t.Errorf("keys list: %v\n%s\ndocs:\n%s", err, got, want)
	}
}

// docKeysAgent has the keys of http-api.md's example: one member, two
// keys, the first primary.
type docKeysAgent struct{ keysFakeAgent }

func (docKeysAgent) ListKeys() (vigilhttp.KeysResponse, error) {
	return vigilhttp.KeysResponse{NumNodes: 1, NumResponses: 1,
		Keys:        map[string]int{"wyTFF5dX1pFGqaMs9b0HrI9DwL013lxfax6uxN8lP9g=": 1, "tLrnAwf6dL33NohQ0e2EM29HSzyPIt6V32SAi2s+C1w=": 1},
		PrimaryKeys: map[string]int{"wyTFF5dX1pFGqaMs9b0HrI9DwL013lxfax6uxN8lP9g=": 1}}, nil
}
