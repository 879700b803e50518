package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// hangHook is one of the hooks of the agent whose hooks all hang, with the
// events it takes.
type hangHook struct {
	name string
	on   []string
}

// hangHooks covers every kind of event an agent of this test sees: the
// catch-all, each membership event alone and together, user events by
// type and by name, health changes.
var hangHooks = []hangHook{
	{"every", []string{"*"}},
	{"join", []string{"member-join"}},
	{"failed", []string{"member-failed"}},
	{"leave", []string{"member-leave"}},
	{"update", []string{"member-update"}},
	{"members", []string{"member-join", "member-leave", "member-failed", "member-update"}},
	{"user", []string{"user"}},
	{"deploy", []string{"user:deploy"}},
	{"health", []string{"health"}},
}

// hangConfig gives every hook of hangHooks a script that starts a child
// (a shell running sleep, in the background), leaves the PIDs of itself
// and of the child in $OUT/hung-HOOK-EVENTID, and sleeps for an hour, with
// a timeout of an hour: each hangs on its first event for the whole test,
// and every later event waits in its queue. The brake is off, so no
// member-failed event is held rather than queued.
func hangConfig() string {
	var b strings.Builder
	b.WriteString("failover: {brake_fraction: 1}\nhooks:\n")
	for _, h := range hangHooks {
		fmt.Fprintf(&b, `  - name: %s
    on: ['%s']
    timeout: 1h
    shell: |
      sh -c 'sleep 3600; echo never' &
      echo "$$ $!" > "$OUT/.tmp-%[1]s" && mv "$OUT/.tmp-%[1]s" "$OUT/hung-%[1]s-$VIGIL_LOCAL_EVENT_ID"
      sleep 3600
`, h.name, strings.Join(h.on, "', '"))
	}
	return b.String()
}

// hungProc is a process a hung hook started: the hook's shell (whose PID
// is its process group) or the shell's child.
type hungProc struct {
	hook  string
	pid   int
	start string // /proc/PID/stat starttime, against PID reuse
}

// TestGossipWorksWhileEveryHookHangs: agent a's nine hooks (every event
// type, the catch-all, user events by type and name, health) each hang on
// their first event, with a child process, and a one-hour timeout, in a
// cluster of loopback agents on the fast profile (five at a time, seven in
// all). The other agents record their member-failed runs (recordHooks).
//
// First every hook is made to hang: a's own join, a user event, a
// maintenance toggle on b (member-update and health), a kill -9 (k1) and a
// leave (l1). Then, while every hook stays hung and its queue grows, two
// agents join (k2, l2), one is killed with kill -9 (k2), one leaves (l2),
// five user events are fired and b leaves maintenance. Throughout both
// phases a's HTTP API (GET /v1/members, GET /healthz) is probed every
// 200 ms.
//
// Asserted, each within a deadline: a's /v1/members shows every change
// (joiners alive, the killed failed, the leavers left); every probe of a's
// API answers, each within 3 s; no other agent ever declares a failed (no
// member-failed event about a in their rings, no member-failed hook run
// for it, exactly one member-join about it); a's /v1/events holds every
// event of the test; each hook's queue (vigil_hook_queue_depth) holds
// exactly the events of the ring that match it, less the one it hangs on,
// so none was lost on the way; no hook ran a second time or finished. At
// the end a is stopped (SIGTERM): it leaves (the others see it left) and
// exits, and every process its hooks started, shells, children and their
// whole process groups, is gone.
func TestGossipWorksWhileEveryHookHangs(t *testing.T) {
	skipShort(t)
	base := []string{"-profile", "fast", "-log-level", "info"}
	plain := writeConfig(t, recordHooks)
	withService := writeConfig(t, recordHooks+"service: {name: web, port: 9}\n")
	// -hook-max-concurrent 0: every one of a's nine hooks hangs at once
	// (the default limit would keep all but 4 waiting for a slot; the
	// limit has tests of its own, in events/hook).
	a := clustertest.StartLocal(t, "a", append(base, "-config", writeConfig(t, hangConfig()), "-hook-max-concurrent", "0")...)
	first := clustertest.StartLocalMany(t, []string{"b", "c", "k1", "l1"}, func(i int) []string {
		cfg := plain
		if i == 0 {
			cfg = withService // b's maintenance makes member-update and health events
		}
		return append([]string{"-join", a.GossipAddr(), "-config", cfg}, base...)
	})
	b, c, k1, l1 := first[0], first[1], first[2], first[3]
	all := append([]*clustertest.Agent{a}, first...)
	clustertest.AllSee(t, 30*time.Second, all, clustertest.Expect("alive", all...))
	procs := map[string][]hungProc{} // by hook
	t.Cleanup(func() { killLeftovers(t, procs) })

	// a's own join has hung two hooks already: its API is probed from now.
	probe := probeAPI(t, a)

	// Phase 1: every hook hangs.
	if err := b.Fire("deploy", "phase1"); err != nil {
		t.Fatal(err)
	}
	maintenance(t, b, true)
	k1.Kill()
	if err := l1.Stop(); err != nil {
		t.Fatalf("l1's leave: %v", err)
	}
	clustertest.AllSee(t, 30*time.Second, []*clustertest.Agent{a, b, c},
		clustertest.Expect("alive", a, b, c).And("failed", k1).And("left", l1))
	clustertest.Eventually(t, 30*time.Second, "every hook of a to hang, with its child", func() error {
		for _, h := range hangHooks {
			ps, err := hungProcs(a, h.name)
			if err != nil {
				return err
			}
			procs[h.name] = ps
		}
		return nil
	})
	groups := groupMembers(procs)
	total := 0
	for _, h := range hangHooks {
		// The shell, its child and the sleeps: three at least.
		if n := len(groups[procs[h.name][0].pid]); n < 3 {
			t.Errorf("hook %s's process group holds %d processes, want 3 or more", h.name, n)
		}
		total += len(groups[procs[h.name][0].pid])
	}
	t.Logf("a's %d hooks hang, with %d processes in their groups", len(hangHooks), total)

	// Phase 2: while they hang, the cluster changes, and a must keep up.
	second := clustertest.StartLocalMany(t, []string{"k2", "l2"}, func(int) []string {
		return append([]string{"-join", b.GossipAddr(), "-config", plain}, base...)
	})
	k2, l2 := second[0], second[1]
	// a, b and c must see every change; the newcomers at least who is
	// alive (what they learn of k1 and l1 is not this test's business).
	survivors := []*clustertest.Agent{a, b, c}
	live := []*clustertest.Agent{a, b, c, k2, l2}
	seeAll(t, survivors, clustertest.Expect("alive", live...).And("failed", k1).And("left", l1))
	seeAll(t, []*clustertest.Agent{k2, l2}, clustertest.Expect("alive", live...))
	for _, x := range []*clustertest.Agent{k2, l2} {
		noFailureOf(t, x, a.Name)
	}
	k2.Kill()
	seeAll(t, survivors, clustertest.Expect("alive", a, b, c, l2).And("failed", k1, k2).And("left", l1))
	seeAll(t, []*clustertest.Agent{l2}, clustertest.Expect("alive", a, b, c, l2).And("failed", k2))
	noFailureOf(t, l2, a.Name)
	if err := l2.Stop(); err != nil {
		t.Fatalf("l2's leave: %v", err)
	}
	seeAll(t, survivors, clustertest.Expect("alive", survivors...).And("failed", k1, k2).And("left", l1, l2))
	fired := map[string]int{} // user event payload → how many fired
	for i := range 5 {
		name, from := "deploy", c
		if i%2 == 1 {
			name, from = "other", b
		}
		payload := fmt.Sprintf("%s-%d", name, i)
		if err := from.Fire(name, payload); err != nil {
			t.Fatal(err)
		}
		fired[payload]++
	}
	fired["phase1"] = 1
	maintenance(t, b, false)

	// a's ring holds every event of the test.
	var ring []ringEvent
	clustertest.Eventually(t, 30*time.Second, "a's /v1/events to hold every event of the test", func() error {
		var err error
		if ring, err = ringOf(a); err != nil {
			return err
		}
		got := map[string]counts{}
		users := map[string]int{}
		health := map[string]int{}
		for _, e := range ring {
			if e.member != "" {
				if got[e.typ] == nil {
					got[e.typ] = counts{}
				}
				got[e.typ][e.member]++
			}
			if e.typ == "user" {
				users[e.payload]++
			}
			if e.typ == "health" {
				health[e.member+" "+e.health]++
			}
		}
		var bad []string
		for typ, w := range map[string]counts{
			"member-join":   each(1, []string{"a", "b", "c", "k1", "l1", "k2", "l2"}),
			"member-failed": each(1, []string{"k1", "k2"}),
			"member-leave":  each(1, []string{"l1", "l2"}),
		} {
			if got[typ].String() != w.String() {
				bad = append(bad, fmt.Sprintf("%s: %s, want %s", typ, got[typ], w))
			}
		}
		if fmt.Sprint(users) != fmt.Sprint(fired) {
			bad = append(bad, fmt.Sprintf("user events %v, want %v", users, fired))
		}
		if got["member-update"]["b"] < 2 || health["b maintenance"] != 1 || health["b passing"] != 1 {
			bad = append(bad, fmt.Sprintf("b's updates %d (want 2 or more), health changes %v (want maintenance and passing once)", got["member-update"]["b"], health))
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s", strings.Join(bad, "; "))
		}
		return nil
	})

	// Every event that matches a hook waits in its queue: none lost, none
	// run. The queue depth must settle at exactly the ring's count.
	clustertest.Eventually(t, 20*time.Second, "a's hook queues to hold every matching event of its ring", func() error {
		ring, err := ringOf(a)
		if err != nil {
			return err
		}
		depth, err := queueDepths(a)
		if err != nil {
			return err
		}
		var bad, got []string
		for _, h := range hangHooks {
			want := -1 // the event it hangs on is not queued
			for _, e := range ring {
				if e.matches(h.on) {
					want++
				}
			}
			if depth[h.name] != want || want < 1 {
				bad = append(bad, fmt.Sprintf("%s: %d queued, want %d (1 or more)", h.name, depth[h.name], want))
			}
			got = append(got, fmt.Sprintf("%s %d", h.name, depth[h.name]))
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s", strings.Join(bad, "; "))
		}
		t.Logf("a's ring holds %d events; queued behind the hung runs: %s", len(ring), strings.Join(got, ", "))
		return nil
	})
	if runs, err := a.Runs(""); err != nil {
		t.Fatal(err)
	} else if len(runs) > 0 {
		t.Errorf("a recorded %d hook runs while every hook should hang, first %+v", len(runs), runs[0])
	}
	for _, h := range hangHooks {
		if n := len(a.OutFiles("hung-" + h.name + "-*")); n != 1 {
			t.Errorf("hook %s started %d runs, want 1 (it should hang on its first event)", h.name, n)
		}
		for _, p := range procs[h.name] {
			if !p.alive() {
				t.Errorf("hook %s: process %d died while the hook should hang", h.name, p.pid)
			}
		}
	}
	for _, x := range []*clustertest.Agent{b, c} {
		noFailureOf(t, x, a.Name)
		if ev := events(t, x, "member-join"); ev[a.Name] != 1 {
			t.Errorf("%s saw a join %d times, want once (a flap shows as a second join)", x.Name, ev[a.Name])
		}
	}
	n, worst, errs := probe.stop()
	t.Logf("a's API answered %d probes while its hooks hung, the slowest in %s", n, worst.Round(time.Millisecond))
	if len(errs) > 0 {
		t.Errorf("a's API failed %d probes of %d, e.g. %s", len(errs), n+len(errs), errs[0])
	}
	if n < 10 {
		t.Errorf("a's API answered only %d probes", n)
	}
	if worst > 3*time.Second {
		t.Errorf("a's API took %s to answer a probe, want at most 3s", worst)
	}

	// a stops: it leaves, and its hooks die with every process they started.
	began := time.Now()
	if err := a.Stop(); err != nil {
		t.Errorf("a's stop: %v", err)
	}
	t.Logf("a stopped in %s", time.Since(began).Round(100*time.Millisecond))
	clustertest.Eventually(t, 10*time.Second, "every process of a's hooks to be gone", func() error {
		var left []string
		for _, h := range hangHooks {
			for _, p := range procs[h.name] {
				if p.alive() {
					left = append(left, fmt.Sprintf("%s's %d", h.name, p.pid))
				}
			}
		}
		for pgid, pids := range groupMembers(procs) {
			left = append(left, fmt.Sprintf("group %d: %v", pgid, pids))
		}
		if len(left) > 0 {
			return fmt.Errorf("still running: %s", strings.Join(left, ", "))
		}
		return nil
	})
	clustertest.AllSee(t, 30*time.Second, []*clustertest.Agent{b, c}, clustertest.Expect("left", a))
}

// maintenance puts x's service in maintenance or takes it out.
func maintenance(t *testing.T, x *clustertest.Agent, on bool) {
	t.Helper()
	if err := x.Do(http.MethodPut, "/v1/maintenance", map[string]any{"enable": on}, nil); err != nil {
		t.Fatal(err)
	}
}

// seeAll is AllSee with the deadline of this test's view changes.
func seeAll(t *testing.T, agents []*clustertest.Agent, want clustertest.View) {
	t.Helper()
	took := clustertest.AllSee(t, 30*time.Second, agents, want)
	t.Logf("%v see %s after %s", clustertest.Names(agents...), want, took.Round(100*time.Millisecond))
}

// noFailureOf fails the test if x ever declared member failed: a
// member-failed event about it in x's ring, or a member-failed hook run
// for it (recordHooks' files).
func noFailureOf(t *testing.T, x *clustertest.Agent, member string) {
	t.Helper()
	if n := events(t, x, "member-failed")[member]; n > 0 {
		t.Errorf("%s declared %s failed %d times", x.Name, member, n)
	}
	if n := seen(t, x, "failed")[member]; n > 0 {
		t.Errorf("%s ran its member-failed hook for %s %d times", x.Name, member, n)
	}
}

// hungProcs reads the PIDs a's hung hook left in its hung-HOOK-* file
// and checks that both its shell and the shell's child are running.
func hungProcs(a *clustertest.Agent, hook string) ([]hungProc, error) {
	files := a.OutFiles("hung-" + hook + "-*")
	if len(files) != 1 {
		return nil, fmt.Errorf("hook %s: %d runs started, want 1", hook, len(files))
	}
	f := strings.Fields(a.ReadOut(files[0]))
	if len(f) != 2 {
		return nil, fmt.Errorf("hook %s: %s holds %q, want two PIDs", hook, files[0], f)
	}
	var out []hungProc
	for _, s := range f {
		pid, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("hook %s: %s: %v", hook, files[0], err)
		}
		p := hungProc{hook: hook, pid: pid, start: procStat(pid).start}
		if !p.alive() {
			return nil, fmt.Errorf("hook %s: process %d is not running", hook, pid)
		}
		out = append(out, p)
	}
	// The shell leads its own process group (the runner's Setpgid), which
	// the child is in too.
	if st := procStat(out[1].pid); st.pgrp != out[0].pid {
		return nil, fmt.Errorf("hook %s: child %d is in process group %d, want the hook's %d", hook, out[1].pid, st.pgrp, out[0].pid)
	}
	return out, nil
}

// stat is what the test reads of /proc/PID/stat.
type stat struct {
	state string
	pgrp  int
	start string
}

// procStat reads /proc/PID/stat; the zero stat if the process is gone.
func procStat(pid int) stat {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return stat{}
	}
	// After the command: state, ppid, pgrp, … starttime is the 20th.
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return stat{}
	}
	pgrp, _ := strconv.Atoi(f[2])
	return stat{state: f[0], pgrp: pgrp, start: f[19]}
}

// alive reports whether the process still runs: same PID and start time,
// not a zombie.
func (p hungProc) alive() bool {
	st := procStat(p.pid)
	return st.start != "" && st.start == p.start && st.state != "Z"
}

// groupMembers returns, per hung hook's process group (its shell's PID),
// the live processes still in it.
func groupMembers(procs map[string][]hungProc) map[int][]int {
	groups := map[int]bool{}
	for _, ps := range procs {
		if len(ps) > 0 {
			groups[ps[0].pid] = true
		}
	}
	out := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st := procStat(pid); groups[st.pgrp] && st.state != "Z" {
			out[st.pgrp] = append(out[st.pgrp], pid)
		}
	}
	return out
}

// killLeftovers kills, if the test left them running, the processes the
// hung hooks started (by PID, checked against their start time) and what
// is left in their process groups.
func killLeftovers(t *testing.T, procs map[string][]hungProc) {
	for _, ps := range procs {
		for _, p := range ps {
			if p.alive() {
				t.Logf("killing leftover hook process %d (%s)", p.pid, p.hook)
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
		}
	}
	for pgid, pids := range groupMembers(procs) {
		t.Logf("killing leftover process group %d: %v", pgid, pids)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// ringEvent is an event of GET /v1/events, with what the hooks' filters
// look at.
type ringEvent struct {
	typ, member   string
	user, payload string
	health        string
}

// matches reports whether an event passes any of filters (the text forms
// of hangHooks: *, TYPE, user:NAME).
func (e ringEvent) matches(filters []string) bool {
	for _, f := range filters {
		typ, name, named := strings.Cut(f, ":")
		if f == "*" || (typ == e.typ && (!named || name == e.user)) {
			return true
		}
	}
	return false
}

// ringOf returns every event in a's ring.
func ringOf(a *clustertest.Agent) ([]ringEvent, error) {
	evs, err := a.Events(0)
	if err != nil {
		return nil, err
	}
	out := make([]ringEvent, 0, len(evs))
	for _, e := range evs {
		var body struct {
			User *struct {
				Name    string `json:"name"`
				Payload string `json:"payload"`
			} `json:"user_event"`
			Health *struct {
				Status string `json:"status"`
			} `json:"health"`
		}
		if err := json.Unmarshal(e.Raw, &body); err != nil {
			return nil, err
		}
		re := ringEvent{typ: e.Type}
		if len(e.Members) == 1 {
			re.member = e.Members[0].Name
		}
		if body.User != nil {
			re.user, re.payload = body.User.Name, body.User.Payload
		}
		if body.Health != nil {
			re.health = body.Health.Status
		}
		out = append(out, re)
	}
	return out, nil
}

var queueDepthLine = regexp.MustCompile(`(?m)^vigil_hook_queue_depth\{hook="([^"]+)"\} (\d+)$`)

// queueDepths reads how many events wait for each hook of a loopback
// agent, from GET /metrics.
func queueDepths(a *clustertest.Agent) (map[string]int, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, m := range queueDepthLine.FindAllStringSubmatch(string(b), -1) {
		out[m[1]], _ = strconv.Atoi(m[2])
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no vigil_hook_queue_depth in /metrics")
	}
	return out, nil
}

// apiProbe asks an agent's API for /v1/members and /healthz every 200 ms
// until stopped, timing each answer.
type apiProbe struct {
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	n    int
	max  time.Duration
	errs []string
}

func probeAPI(t *testing.T, a *clustertest.Agent) *apiProbe {
	p := &apiProbe{done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) error {
		resp, err := client.Get("http://" + a.HTTPAddr() + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return nil
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		// Bounded: the test stops it, and it gives up after 10 minutes.
		for end := time.Now().Add(10 * time.Minute); time.Now().Before(end); {
			for _, path := range []string{"/v1/members", "/healthz"} {
				began := time.Now()
				err := get(path)
				took := time.Since(began)
				p.mu.Lock()
				if err != nil {
					p.errs = append(p.errs, fmt.Sprintf("%s after %s: %v", path, took.Round(time.Millisecond), err))
				} else {
					p.n++
					p.max = max(p.max, took)
				}
				p.mu.Unlock()
			}
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { p.stop(); client.CloseIdleConnections() })
	return p
}

// stop ends the probing and returns how many probes were answered, the
// slowest answer and the failures.
func (p *apiProbe) stop() (int, time.Duration, []string) {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	errs := append([]string(nil), p.errs...)
	sort.Strings(errs)
	return p.n, p.max, errs
}
