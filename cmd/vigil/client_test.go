package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/failover"
	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/internal/clustertest"
	"github.com/vigil-agent/vigil/probes"
)

// clientFakeAgent is a vigilhttp.Agent with canned members and a real ring.
type clientFakeAgent struct {
	ring *events.Ring

	mu     sync.Mutex
	joins  [][]string
	leaves int
	fired  []events.UserEvent
	maint  []bool
	forced []string // "name prune" per ForceLeave that succeeded
}

func (f *clientFakeAgent) Checks() []probes.State {
	return []probes.State{{ID: "web-http", Kind: "http", Status: probes.Critical, Output: "HTTP GET http://127.0.0.1:8080/health: 500 Internal Server Error"}}
}

func (f *clientFakeAgent) UpdateTTL(id string, status probes.Status, note string) error {
	return fmt.Errorf("check %q: %w", id, probes.ErrUnknownCheck)
}

func (f *clientFakeAgent) Instances(service string) []vigilhttp.Instance {
	if service != "web" {
		return nil
	}
	return []vigilhttp.Instance{
		{Node: "alpha", Addr: "10.0.0.1", Port: 8080, Tags: map[string]string{"version": "1.4"}, Health: "passing", Status: "alive"},
		{Node: "bravo", Addr: "10.0.0.2", Port: 8080, Tags: map[string]string{}, Health: "critical", Status: "alive"},
	}
}

func (f *clientFakeAgent) RTT(node string) (time.Duration, bool) { return 0, false }

func (f *clientFakeAgent) FailoverStatus() failover.Status {
	return failover.Status{Brake: true, Quorum: true, Damped: map[string]time.Time{},
		Pending: []failover.Pending{{Hook: "promote", Key: "db-1@x:member-failed", State: "held", Reason: "mass-failure brake engaged"}}}
}

func (f *clientFakeAgent) ReleaseFailover() bool { return true }

func (f *clientFakeAgent) Reload() (vigilhttp.ReloadResult, error) {
	return vigilhttp.ReloadResult{HooksChanged: []string{"promote"}, NeedsRestart: []string{"bind"}}, nil
}

func (f *clientFakeAgent) ForceLeave(name string, prune bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.Members() {
		if m.Name != name {
			continue
		}
		if m.Status == "alive" {
			return fmt.Errorf("force-leave %q: it is alive: %w", name, vigilhttp.ErrMemberNotFailed)
		}
		f.forced = append(f.forced, fmt.Sprintf("%s %v", name, prune))
		return nil
	}
	return fmt.Errorf("force-leave %q: %w", name, vigilhttp.ErrUnknownMember)
}

func (f *clientFakeAgent) SetMaintenance(enable bool, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maint = append(f.maint, enable)
	return nil
}

func (f *clientFakeAgent) Members() []events.Member {
	return []events.Member{
		{Name: "alpha", Addr: "10.0.0.1", Port: 7946, Status: "alive", Tags: map[string]string{"role": "web", "dc": "east",
			"service": "web", "service_port": "8080", "health": "passing", "boot": "lz3k", "health_seq": "2"}},
		{Name: "bravo", Addr: "10.0.0.2", Port: 7946, Status: "failed"},
		{Name: "charlie-long-name", Addr: "fd00::3", Port: 7950, Status: "left", Tags: map[string]string{"zone": "b"}},
	}
}

func (f *clientFakeAgent) Self() vigilhttp.Self {
	return vigilhttp.Self{Member: f.Members()[0], Profile: "lan", Version: "test"}
}

func (f *clientFakeAgent) Join(addrs []string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joins = append(f.joins, addrs)
	return len(addrs), nil
}

func (f *clientFakeAgent) Leave() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaves++
	return nil
}

func (f *clientFakeAgent) UserEvent(name string, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fired = append(f.fired, events.UserEvent{Name: name, Payload: string(payload)})
	return nil
}

func (f *clientFakeAgent) Events() *events.Ring   { return f.ring }
func (f *clientFakeAgent) HookRuns() []events.Run { return nil }

// startFakeAPI serves the real API for a fake agent and returns its address.
func startFakeAPI(t *testing.T) (*clientFakeAgent, string) {
	t.Helper()
	f := &clientFakeAgent{ring: events.NewRing(0)}
	srv := vigilhttp.New(f, zerolog.Nop())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return f, strings.TrimPrefix(ts.URL, "http://")
}

// clientDeadAddr returns an address nothing listens on.
func clientDeadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// clientBuffer is a CLI's output, safe for a writer and a reader goroutine.
type clientBuffer = clustertest.Buffer

// runClientCLI runs the client commands with args; exit errors are returned, not
// acted on.
func runClientCLI(ctx context.Context, stdout, stderr *clientBuffer, args ...string) error {
	app := &cli.App{
		Name:           "vigil",
		Commands:       clientCommands(),
		Writer:         stdout,
		ErrWriter:      stderr,
		ExitErrHandler: func(*cli.Context, error) {},
	}
	return app.RunContext(ctx, append([]string{"vigil"}, args...))
}

func runClient(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut clientBuffer
	err := runClientCLI(t.Context(), &out, &errOut, args...)
	return out.String(), err
}

// wantExitErr checks err is an exit error with code 1 (a failure) and the
// message want.
func wantExitErr(t *testing.T, err error, want string) {
	t.Helper()
	wantExit(t, err, 1, want)
}

// wantUsageErr checks err is a usage error: exit code 2 and the message
// want.
func wantUsageErr(t *testing.T, err error, want string) {
	t.Helper()
	wantExit(t, err, exitUsage, want)
}

// wantExit checks err is an exit error with the code and the message want.
func wantExit(t *testing.T, err error, code int, want string) {
	t.Helper()
	var ec cli.ExitCoder
	if !errors.As(err, &ec) {
		t.Fatalf("error %v (%T) is not an exit error", err, err)
	}
	if ec.ExitCode() != code {
		t.Errorf("exit code %d, want %d (%v)", ec.ExitCode(), code, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err.Error(), want)
	}
}

func TestClientMembersTable(t *testing.T) {
	_, addr := startFakeAPI(t)
	got, err := runClient(t, "members", "-http-addr", addr)
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME               ADDRESS         STATUS  HEALTH   TAGS\n" +
		"alpha              10.0.0.1:7946   alive   passing  dc=east,health=passing,role=web,service=web,service_port=8080\n" +
		"bravo              10.0.0.2:7946   failed  -\n" +
		"charlie-long-name  [fd00::3]:7950  left    -        zone=b\n"
	if got != want {
		t.Errorf("members output:\n%s\nwant:\n%s", got, want)
	}
}

func TestClientMembersStatusAndJSON(t *testing.T) {
	_, addr := startFakeAPI(t)
	t.Setenv("VIGIL_HTTP_ADDR", addr)

	got, err := runClient(t, "members", "-status", "failed")
	if err != nil {
		t.Fatal(err)
	}
	if want := "NAME   ADDRESS        STATUS  HEALTH  TAGS\nbravo  10.0.0.2:7946  failed  -\n"; got != want {
		t.Errorf("members -status failed:\n%q\nwant\n%q", got, want)
	}

	got, err = runClient(t, "members", "-format", "json", "-status", "alive")
	if err != nil {
		t.Fatal(err)
	}
	var ms []events.Member
	if err := json.Unmarshal([]byte(got), &ms); err != nil || len(ms) != 1 || ms[0].Name != "alpha" {
		t.Errorf("members -format json: %v %q", err, got)
	}
	if ms[0].Tags["boot"] != "lz3k" || ms[0].Tags["health_seq"] != "2" {
		t.Errorf("members -format json hides internal tags: %v", ms[0].Tags)
	}

	_, err = runClient(t, "members", "-status", "dead")
	wantUsageErr(t, err, `vigil: -status "dead": want alive, leaving, left or failed`)

	_, err = runClient(t, "members", "-format", "xml")
	wantUsageErr(t, err, `vigil: -format "xml"`)
}

func TestClientJoinLeaveEventVersion(t *testing.T) {
	f, addr := startFakeAPI(t)

	got, err := runClient(t, "join", "-http-addr", addr, "10.0.0.8:7946", "10.0.0.9:7946")
	if err != nil || got != "Joined 2 members\n" {
		t.Errorf("join: %q %v", got, err)
	}
	_, err = runClient(t, "join", "-http-addr", addr, "10.0.0.8")
	wantExitErr(t, err, `vigil: address "10.0.0.8"`)
	_, err = runClient(t, "join", "-http-addr", addr)
	wantUsageErr(t, err, "at least one address")

	got, err = runClient(t, "event", "-http-addr", addr, "deploy", "v1.4.2")
	if err != nil || got != "Fired user event \"deploy\"\n" {
		t.Errorf("event: %q %v", got, err)
	}
	_, err = runClient(t, "event", "-http-addr", addr)
	wantUsageErr(t, err, "usage: vigil event NAME [PAYLOAD]")

	got, err = runClient(t, "leave", "-http-addr", addr)
	if err != nil || !strings.Contains(got, "leaving") {
		t.Errorf("leave: %q %v", got, err)
	}

	f.mu.Lock()
	if len(f.joins) != 1 || len(f.joins[0]) != 2 || f.leaves != 1 ||
		len(f.fired) != 1 || f.fired[0] != (events.UserEvent{Name: "deploy", Payload: "v1.4.2"}) {
		t.Errorf("agent saw joins %q, leaves %d, events %+v", f.joins, f.leaves, f.fired)
	}
	f.mu.Unlock()

	got, err = runClient(t, "version")
	if err != nil || got != "vigil "+version+"\n" {
		t.Errorf("version: %q %v", got, err)
	}
}

func TestClientNoAgent(t *testing.T) {
	addr := clientDeadAddr(t)
	want := fmt.Sprintf(`vigil: no agent answering at %s (is "vigil agent" running?)`, addr)
	for _, args := range [][]string{
		{"members"}, {"join", "10.0.0.1:7946"}, {"leave"}, {"event", "x"}, {"monitor"},
	} {
		t.Run(args[0], func(t *testing.T) {
			cmd := append([]string{args[0], "-http-addr", addr}, args[1:]...)
			_, err := runClient(t, cmd...)
			wantExitErr(t, err, want)
			if err.Error() != want {
				t.Errorf("message %q, want %q", err.Error(), want)
			}
		})
	}
}

// clientWaitUntil polls cond until it holds or the deadline passes.
func clientWaitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClientMonitor(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			f, addr := startFakeAPI(t)
			f.ring.Publish(events.Event{Type: events.MemberJoin, Members: []events.Member{{Name: "alpha"}, {Name: "bravo"}}})
			f.ring.Publish(events.Event{Type: events.MemberFailed, Members: []events.Member{{Name: "bravo"}}})

			var out, errOut clientBuffer
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- runClientCLI(ctx, &out, &errOut, "monitor", "-format", format, "-http-addr", addr) }()
			t.Cleanup(func() { cancel(); <-done })

			lines := func() []string { return strings.Split(strings.TrimSpace(out.String()), "\n") }
			clientWaitUntil(t, "backlog", func() bool { return strings.Count(out.String(), "\n") >= 2 })
			f.ring.Publish(events.Event{Type: events.User, User: &events.UserEvent{Name: "deploy", Payload: "v2"}})
			clientWaitUntil(t, "live event", func() bool { return strings.Count(out.String(), "\n") >= 3 })
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("monitor returned %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("monitor did not stop when cancelled")
			}
			done <- nil // for the cleanup

			got := lines()
			if len(got) != 3 {
				t.Fatalf("monitor printed %q", got)
			}
			if format == "json" {
				for i, l := range got {
					var ev events.Event
					if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.ID != uint64(i+1) {
						t.Errorf("line %d %q: %v", i, l, err)
					}
				}
				return
			}
			wants := [][]string{
				{" 1 ", "member-join", "alpha, bravo"},
				{" 2 ", "member-failed", "bravo"},
				{" 3 ", "user", `deploy payload="v2"`},
			}
			for i, w := range wants {
				for _, s := range w {
					if !strings.Contains(got[i], s) {
						t.Errorf("line %d %q lacks %q", i, got[i], s)
					}
				}
			}
		})
	}
}

// TestMonitorReconnects serves a stream that ends after each event: the
// monitor must reconnect with Last-Event-ID and print each event once.
func TestClientMonitorReconnects(t *testing.T) {
	var mu sync.Mutex
	var lastIDs []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		n := len(lastIDs)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		if n > 2 {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		ev := events.Event{ID: uint64(n), Type: events.MemberJoin, Time: time.Now(), Members: []events.Member{{Name: fmt.Sprint("node", n)}}}
		b, _ := json.Marshal(ev)
		fmt.Fprintf(w, ": keepalive\n\nid: %d\nevent: member-join\ndata: %s\n\n", n, b)
	}))
	t.Cleanup(ts.Close)

	var out, errOut clientBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- runClientCLI(ctx, &out, &errOut, "monitor", "-http-addr", ts.Listener.Addr().String()) }()
	clientWaitUntil(t, "third connection", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(lastIDs) >= 3
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("monitor: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"", "1", "2"}; strings.Join(lastIDs, ",") != strings.Join(want, ",") {
		t.Errorf("Last-Event-ID headers %q, want %q", lastIDs, want)
	}
	if got := out.String(); strings.Count(got, "\n") != 2 || !strings.Contains(got, "node1") || !strings.Contains(got, "node2") {
		t.Errorf("monitor printed %q", got)
	}
}

func TestClientHealthCommands(t *testing.T) {
	f, addr := startFakeAPI(t)
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"health", "-http-addr", addr, "web"}, want: "" +
			"NODE   ADDRESS        HEALTH    STATUS  TAGS\n" +
			"alpha  10.0.0.1:8080  passing   alive   version=1.4\n" +
			"bravo  10.0.0.2:8080  critical  alive\n"},
		{args: []string{"pick", "-http-addr", addr, "web"}, want: "10.0.0.1:8080\n"},
		{args: []string{"checks", "-http-addr", addr}, want: "" +
			"ID        KIND  STATUS    OUTPUT\n" +
			"web-http  http  critical  HTTP GET http://127.0.0.1:8080/health: 500 Internal Server Error\n"},
		{args: []string{"maintenance", "-http-addr", addr, "on"}, want: "This instance is drained: peers see health \"maintenance\" and stop picking it\n"},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			got, err := runClient(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("output:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.maint) != 1 || !f.maint[0] {
		t.Errorf("maintenance calls %v", f.maint)
	}
	if _, err := runClient(t, "pick", "-http-addr", addr, "db"); err == nil || !strings.Contains(err.Error(), `no passing instance of service "db"`) {
		t.Errorf("pick of a service with none passing: %v", err)
	}
}
