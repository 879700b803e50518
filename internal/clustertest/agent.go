package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Agent is one running `vigil agent` process, on a Host or on loopback.
// Its methods are safe for concurrent use. When the test ends the agent is
// killed and its log checked: a data race report (see Build), a panic or a
// Go fatal error in it fails the test.
type Agent struct {
	// Name is the agent's node name.
	Name string

	host    *Host // nil on loopback
	gossip  string
	httpURL string
	token   string // sent as a bearer token, from -http-token
	outDir  string
	// runDir is the agent's VIGIL_RUNTIME_DIR: its own, so that agents in
	// different namespaces on one port don't share a token file; "" with
	// Options.TokenDirs.
	runDir string
	opt    Options
	cmd    *exec.Cmd
	log    *Buffer
	tr     *http.Transport
	client *http.Client

	done    chan struct{} // closed when the process has exited
	exitErr error         // set before done is closed
}

// Member is one entry of GET /v1/members.
type Member struct {
	// Name is the node name.
	Name string `json:"name"`
	// Addr is the gossip IP.
	Addr string `json:"addr"`
	// Port is the gossip port.
	Port int `json:"port"`
	// Status is alive, leaving, left or failed.
	Status string `json:"status"`
	// Tags are the member's tags.
	Tags map[string]string `json:"tags"`
}

// Run is one hook run of GET /v1/hooks.
type Run struct {
	// Hook is the hook's name.
	Hook string `json:"hook"`
	// EventID is the id of the event that ran it, on this agent.
	EventID uint64 `json:"event_id"`
	// Event is the event's type, e.g. member-failed.
	Event string `json:"event"`
	// Member is the member the event concerns, if any.
	Member string `json:"member"`
	// Start is when the run started.
	Start time.Time `json:"start"`
	// DurationMS is how long it ran, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Outcome is ok, failed, timeout, error, dropped, held, …
	Outcome string `json:"outcome"`
	// ExitCode is the hook's exit status.
	ExitCode int `json:"exit_code"`
	// Error explains an outcome other than ok, when there is more to say.
	Error string `json:"error"`
	// Reason says why a run was held, skipped or dropped.
	Reason string `json:"reason"`
	// Key is the failure's cluster-wide key, for failover runs.
	Key string `json:"key"`
	// Output is the end of the hook's combined stdout and stderr.
	Output string `json:"output"`
}

// Event is one event of GET /v1/events.
type Event struct {
	// ID is the event's id on this agent.
	ID uint64 `json:"id"`
	// Type is the event type, e.g. member-join or user.
	Type string `json:"event"`
	// Time is when the agent received it.
	Time time.Time `json:"time"`
	// Members are the members it concerns (one for membership events).
	Members []Member `json:"members"`
	// Raw is the whole event as the agent sent it.
	Raw json.RawMessage `json:"-"`
}

// Options are how StartLocalWith starts an agent beyond its arguments.
// The zero Options are StartLocal's.
type Options struct {
	// TokenDirs, when not empty, has the agent keep its API token where the
	// vigil commands of the test's own user look for it, as in production:
	// the agent gets no runtime directory of its own (the test's
	// VIGIL_RUNTIME_DIR is passed on when set, so that the agent and the
	// commands agree), the harness reads the token from the first of
	// TokenDirs that holds http-token-PORT, and removes that file from
	// every one of them when the test ends (a killed agent leaves it
	// behind). Give agent.RuntimeDirs(): clustertest cannot import the
	// agent package, whose own tests use clustertest. For tests of the
	// vigil commands, which find the token there; on a Host it is not
	// offered (one port on every host would share one file).
	TokenDirs []string
}

// StartAgent runs `vigil agent` inside the host's namespace:
//
//	ip netns exec NS vigil agent -name NAME -bind ADDR:7946 -http 127.0.0.1:7947
//	    -profile local -log-format json -log-level debug -hook-coalesce 0s -dns "" -cluster-name TEST ARGS...
//
// and waits until its HTTP API answers. Later args override the defaults
// (e.g. -profile fast). Get and Do send the agent's API token: the
// -http-token in args, or else the one the agent made and wrote in its
// runtime directory (VIGIL_RUNTIME_DIR, a directory of its own, where its
// hooks' vigil commands find it too). The agent's environment is the
// test's without VIGIL_* variables, plus OUT=Agent.OutDir() for hooks and
// VIGIL_RUNTIME_DIR. Run one agent per host at a time: the ports
// are fixed. The agent is killed, with whatever it started, when the test
// ends.
func (h *Host) StartAgent(t testing.TB, name string, args ...string) *Agent {
	t.Helper()
	gossip := net.JoinHostPort(h.addr, strconv.Itoa(AgentGossipPort))
	httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(AgentHTTPPort))
	return start(t, h, name, gossip, httpAddr, Options{}, args)
}

// StartLocal runs `vigil agent` in the test's own network namespace, with
// gossip and HTTP on free 127.0.0.1 ports and otherwise the same defaults,
// environment and cleanup as Host.StartAgent. It needs no privileges.
func StartLocal(t testing.TB, name string, args ...string) *Agent {
	t.Helper()
	return StartLocalWith(t, Options{}, name, args...)
}

// StartLocalWith is StartLocal with Options.
func StartLocalWith(t testing.TB, opt Options, name string, args ...string) *Agent {
	t.Helper()
	ports := FreePorts(t, 2)
	return start(t, nil, name, "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1]), opt, args)
}

// StartCluster starts one agent on every host, named after the host (h0,
// h1, …), and waits until every agent sees every other alive. args go to
// every agent. Each agent joins all the agents started before it, so that
// every member hears of every join first hand: with the local profile, a
// member that misses the gossip about a join learns of it only at the next
// push/pull, up to 15 s and more later.
func (nw *Network) StartCluster(t testing.TB, args ...string) []*Agent {
	t.Helper()
	var agents []*Agent
	for _, h := range nw.hosts {
		agents = append(agents, h.StartAgent(t, h.Name(), append(joinArgs(agents), args...)...))
	}
	AllSee(t, 30*time.Second, agents, Expect("alive", agents...))
	return agents
}

// StartLocalCluster starts n agents on loopback named n0, n1, …, each
// joining all those started before it, and waits until every agent sees
// every other alive. args go to every agent.
func StartLocalCluster(t testing.TB, n int, args ...string) []*Agent {
	t.Helper()
	var agents []*Agent
	for i := 0; i < n; i++ {
		agents = append(agents, StartLocal(t, "n"+strconv.Itoa(i), append(joinArgs(agents), args...)...))
	}
	AllSee(t, 30*time.Second, agents, Expect("alive", agents...))
	return agents
}

// joinArgs returns -join flags for the gossip addresses of agents.
func joinArgs(agents []*Agent) []string {
	var out []string
	for _, a := range agents {
		out = append(out, "-join", a.GossipAddr())
	}
	return out
}

func start(t testing.TB, h *Host, name, gossip, httpAddr string, opt Options, args []string) *Agent {
	t.Helper()
	bin := Build(t)
	outDir, err := os.MkdirTemp("", "vigil-out-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	runDir := ""
	if len(opt.TokenDirs) == 0 {
		runDir, err = os.MkdirTemp("", "vigil-run-"+name+"-") // mode 0700
		if err != nil {
			os.RemoveAll(outDir)
			t.Fatal(err)
		}
	}
	a := &Agent{
		Name:    name,
		host:    h,
		gossip:  gossip,
		httpURL: "http://" + httpAddr,
		outDir:  outDir,
		runDir:  runDir,
		opt:     opt,
		log:     &Buffer{},
		done:    make(chan struct{}),
	}
	a.token = flagValue(args, "http-token")
	a.tr = &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	if h != nil {
		a.tr.DialContext = h.Dial
	} else {
		// On loopback a dial is cheap, and a connection the harness kept
		// open would count against the agent's connection cap, which
		// tests of the cap measure.
		a.tr.DisableKeepAlives = true
	}
	a.client = &http.Client{Transport: a.tr, Timeout: 10 * time.Second}

	// -hook-coalesce 0s: the tests' hooks name their member through
	// VIGIL_MEMBER_* (one run per member-failed event, started at once);
	// a test of coalescing passes its own -hook-coalesce.
	// -dns "": no DNS listener on the fixed default port (a test of DNS
	// passes its own -dns).
	// -cluster-name: this process's (ClusterName), so that agents of the
	// test packages running beside this one never merge with ours.
	full := append([]string{"agent", "-name", name, "-bind", gossip, "-http", httpAddr,
		"-profile", "local", "-log-format", "json", "-log-level", "debug", "-hook-coalesce", "0s", "-dns", "",
		"-cluster-name", ClusterName()}, args...)
	if h != nil {
		a.cmd = h.Command(bin, full...)
	} else {
		a.cmd = exec.Command(bin, full...)
	}
	a.cmd.Env = append(AgentEnv("VIGIL_"), "OUT="+outDir)
	if runDir == "" {
		runDir = os.Getenv("VIGIL_RUNTIME_DIR") // Options.TokenDirs
	}
	if runDir != "" {
		a.cmd.Env = append(a.cmd.Env, "VIGIL_RUNTIME_DIR="+runDir)
	}
	a.cmd.Stdout = a.log
	a.cmd.Stderr = a.log
	if err := StartProcess(a.cmd); err != nil {
		os.RemoveAll(outDir)
		if a.runDir != "" {
			os.RemoveAll(a.runDir)
		}
		t.Fatalf("clustertest: start agent %s: %v", name, err)
	}
	go func() {
		a.exitErr = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() { a.cleanup(t) })

	where := "on loopback"
	if h != nil {
		where = "on " + h.ns
	}
	ready := WaitFor(t, 20*time.Second, fmt.Sprintf("agent %s %s to serve HTTP", name, where), func() bool {
		select {
		case <-a.done:
			t.Fatalf("clustertest: agent %s exited at start: %v\n%s", name, a.exitErr, a.log.String())
		default:
		}
		return a.Get("/healthz", nil) == nil
	})
	if a.token == "" {
		// An agent without http_token wrote the token it made before it
		// served HTTP (agent.RuntimeTokenPath); -dev makes none.
		for _, dir := range a.tokenDirs() {
			if b, err := os.ReadFile(a.tokenFile(dir)); err == nil {
				a.token = strings.TrimSpace(string(b))
				break
			}
		}
	}
	// `ip netns exec` execs the agent, so the PID we signal is vigil's own.
	want, _ := filepath.EvalSymlinks(bin)
	if exe, err := procExe(a.PID()); err != nil || exe != want {
		t.Fatalf("clustertest: agent %s: PID %d runs %q (%v), want %s", name, a.PID(), exe, err, want)
	}
	t.Logf("clustertest: agent %s up %s (gossip %s, pid %d) after %s", name, where, gossip, a.PID(), ready.Round(time.Millisecond))
	return a
}

// cleanup kills the agent and what it started, checks its log for races and
// panics, saves it under $VIGIL_TEST_LOGS, and prints its tail on failure.
func (a *Agent) cleanup(t testing.TB) {
	kids := descendants(a.PID())
	a.Kill()
	for _, pid := range kids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	a.tr.CloseIdleConnections()
	if a.runDir != "" {
		_ = os.RemoveAll(a.runDir)
	}
	for _, dir := range a.opt.TokenDirs {
		_ = os.Remove(a.tokenFile(dir))
	}
	for try := 0; try < 10 && os.RemoveAll(a.outDir) != nil; try++ {
		time.Sleep(20 * time.Millisecond)
	}
	log := a.log.String()
	if bad := badLogLine(log); bad != "" {
		t.Errorf("clustertest: agent %s: %s", a.Name, bad)
	}
	if dir := os.Getenv("VIGIL_TEST_LOGS"); dir != "" {
		p := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"), a.Name+".log")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(p, []byte(log), 0o644)
		}
	}
	if t.Failed() {
		const max = 6000
		if len(log) > max {
			log = "…" + log[len(log)-max:]
		}
		t.Logf("clustertest: log of agent %s (pid %d, %s):\n%s", a.Name, a.PID(), a.exitState(), log)
	}
}

// tokenDirs returns where the agent writes its token: its own runtime
// directory, or Options.TokenDirs.
func (a *Agent) tokenDirs() []string {
	if len(a.opt.TokenDirs) > 0 {
		return a.opt.TokenDirs
	}
	return []string{a.runDir}
}

// tokenFile is the agent's token file in a runtime directory,
// DIR/http-token-PORT (agent.RuntimeTokenPath).
func (a *Agent) tokenFile(dir string) string {
	_, port, _ := net.SplitHostPort(a.HTTPAddr())
	return filepath.Join(dir, "http-token-"+port)
}

// flagValue returns the last value given to a flag in args (-name V,
// --name V, -name=V), "" if none.
func flagValue(args []string, name string) string {
	v := ""
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name && i+1 < len(args) {
			v = args[i+1]
		} else if rest, ok := strings.CutPrefix(a, name+"="); ok {
			v = rest
		}
	}
	return v
}

// badLogLine returns the first sign of a crash or data race in a log.
func badLogLine(log string) string {
	for _, line := range strings.Split(log, "\n") {
		for _, p := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
			if strings.HasPrefix(line, p) {
				return "log has " + strconv.Quote(line)
			}
		}
	}
	return ""
}

// descendants lists the children, grandchildren, … of pid.
func descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	kids := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 1 {
				if pp, err := strconv.Atoi(f[1]); err == nil {
					kids[pp] = append(kids[pp], p)
				}
			}
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, k := range kids[p] {
			out = append(out, k)
			queue = append(queue, k)
		}
	}
	return out
}

// Host returns the host the agent runs on, nil for a loopback agent.
func (a *Agent) Host() *Host { return a.host }

// GossipAddr returns the agent's gossip address IP:PORT, what other agents
// -join.
func (a *Agent) GossipAddr() string { return a.gossip }

// HTTPAddr returns the agent's HTTP API address. For an agent on a Host it
// is a loopback address inside the host's namespace: use Get and Do.
func (a *Agent) HTTPAddr() string { return strings.TrimPrefix(a.httpURL, "http://") }

// OutDir returns the agent's own directory, given to it as $OUT so that
// hooks can leave files there. It is removed when the test ends.
func (a *Agent) OutDir() string { return a.outDir }

// OutFiles returns the names (not paths) of the files in OutDir matching a
// glob pattern, sorted.
func (a *Agent) OutFiles(pattern string) []string {
	m, _ := filepath.Glob(filepath.Join(a.outDir, pattern))
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

// ReadOut returns the content of a file in OutDir, "" if it cannot be read.
func (a *Agent) ReadOut(name string) string {
	b, _ := os.ReadFile(filepath.Join(a.outDir, name))
	return string(b)
}

// PID returns the agent's process id.
func (a *Agent) PID() int { return a.cmd.Process.Pid }

// Log returns everything the agent has written to stdout and stderr.
func (a *Agent) Log() string { return a.log.String() }

// Get fetches an API path (e.g. "/v1/members?status=alive") and decodes
// its JSON answer into v (unless v is nil). A status other than 2xx is an
// error carrying the body.
func (a *Agent) Get(path string, v any) error { return a.Do(http.MethodGet, path, nil, v) }

// Do sends a request with body (marshalled as JSON unless nil) to an API
// path and decodes the JSON answer into v (unless v is nil).
func (a *Agent) Do(method, path string, body, v any) error {
	raw := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		raw = string(b)
	}
	code, b, err := a.Send(method, path, raw)
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return fmt.Errorf("agent %s: %s %s: %d %s: %s", a.Name, method, path, code, http.StatusText(code), bytes.TrimSpace(b))
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("agent %s: %s %s: %w in %q", a.Name, method, path, err, b)
	}
	return nil
}

// Send sends a request with body as it is (JSON, or "" for none) to an API
// path, with the agent's token, and returns the answer's status code and
// body. Unlike Do, an answer other than 2xx is not an error: for tests of
// refusals.
func (a *Agent) Send(method, path, body string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.httpURL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("agent %s: %w", a.Name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("agent %s: %s %s: %w", a.Name, method, path, err)
	}
	return resp.StatusCode, b, nil
}

// Members returns the members the agent knows (GET /v1/members).
func (a *Agent) Members() ([]Member, error) {
	var ms []Member
	err := a.Get("/v1/members", &ms)
	return ms, err
}

// Statuses returns the status of every member the agent knows, by name.
func (a *Agent) Statuses() (map[string]string, error) {
	ms, err := a.Members()
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[m.Name] = m.Status
	}
	return out, nil
}

// Runs returns the agent's recorded runs of one hook, oldest first (GET
// /v1/hooks); hook "" returns the runs of every hook. A run is recorded
// when it ends.
func (a *Agent) Runs(hook string) ([]Run, error) {
	var all, out []Run
	if err := a.Get("/v1/hooks", &all); err != nil {
		return nil, err
	}
	for _, r := range all {
		if hook == "" || r.Hook == hook {
			out = append(out, r)
		}
	}
	return out, nil
}

// Events returns the events the agent keeps with an id above since,
// oldest first (GET /v1/events).
func (a *Agent) Events(since uint64) ([]Event, error) {
	var raw []json.RawMessage
	if err := a.Get("/v1/events?since="+strconv.FormatUint(since, 10), &raw); err != nil {
		return nil, err
	}
	out := make([]Event, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return nil, fmt.Errorf("agent %s: event %s: %w", a.Name, r, err)
		}
		out[i].Raw = r
	}
	return out, nil
}

// Fire fires a user event through the agent (POST /v1/event).
func (a *Agent) Fire(name, payload string) error {
	return a.Do(http.MethodPost, "/v1/event", map[string]string{"name": name, "payload": payload}, nil)
}

// Kill sends SIGKILL to the agent's process, and only to it, and waits for
// it to exit.
func (a *Agent) Kill() {
	if a.Exited() {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
}

// Stop sends SIGTERM (a graceful leave) and waits up to 30 s for the agent
// to exit, returning its exit error (nil for status 0). If it is still
// running then, it is killed and Stop returns an error saying so.
func (a *Agent) Stop() error {
	if !a.Exited() {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
	}
	if err := a.Wait(30 * time.Second); err != nil && !a.Exited() {
		a.Kill()
		return err
	}
	return a.exitErr
}

// Wait waits up to d for the agent to exit and returns its exit error, or
// an error if it is still running.
func (a *Agent) Wait(d time.Duration) error {
	select {
	case <-a.done:
		return a.exitErr
	case <-time.After(d):
		return fmt.Errorf("agent %s still running after %s", a.Name, d)
	}
}

// Exited reports whether the agent's process has exited.
func (a *Agent) Exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

func (a *Agent) exitState() string {
	if !a.Exited() {
		return "running"
	}
	if a.exitErr == nil {
		return "exited 0"
	}
	return a.exitErr.Error()
}

// Signal sends sig to the agent's process, and only to it, without
// waiting: Signal(syscall.SIGTERM) starts a graceful stop (a rolling
// restart) that Wait then bounds. It returns an error if the agent has
// already exited.
func (a *Agent) Signal(sig os.Signal) error {
	if a.Exited() {
		return fmt.Errorf("agent %s has exited", a.Name)
	}
	return a.cmd.Process.Signal(sig)
}

// Pause stops the agent with SIGSTOP: it neither gossips nor answers, like
// a machine that hangs. Resume continues it.
func (a *Agent) Pause() { _ = a.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues an agent stopped by Pause (SIGCONT).
func (a *Agent) Resume() { _ = a.cmd.Process.Signal(syscall.SIGCONT) }
