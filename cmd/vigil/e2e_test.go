package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// clusterHooks records member-failed and member-leave events: the env to
// $OUT/<event>-<member>-<id>.env and the JSON stdin to .json.
const clusterHooks = `
hooks:
  - name: on-failed
    on: [member-failed]
    shell: 'env > "$OUT/failed-$VIGIL_MEMBER_NAME-$VIGIL_EVENT_ID.env"; cat > "$OUT/failed-$VIGIL_MEMBER_NAME-$VIGIL_EVENT_ID.json"'
    timeout: 10s
  - name: on-leave
    on: [member-leave]
    command: [/bin/sh, -c, 'cat > "$OUT/leave-$VIGIL_MEMBER_NAME-$VIGIL_EVENT_ID.json"']
`

func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// TestClusterKillAndLeave: four agents see each other; kill -9 of one makes
// every survivor run its member-failed hook exactly once with the right env
// and stdin; a graceful leave gives member-leave and no member-failed.
func TestClusterKillAndLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end cluster test")
	}
	cfg := clustertest.WriteConfig(t, clusterHooks)
	a := startAgent(t, "a", "-config", cfg, "-tag", "role=primary")
	agents := []*clustertest.Agent{a}
	for _, n := range []string{"b", "c", "d"} {
		agents = append(agents, startAgent(t, n, "-config", cfg, "-join", a.GossipAddr(), "-tag", "role=replica"))
	}
	clustertest.AllSee(t, 30*time.Second, agents, map[string]string{"a": "alive", "b": "alive", "c": "alive", "d": "alive"})

	victim := agents[3]
	victim.Kill()
	survivors := agents[:3]
	for _, s := range survivors {
		clustertest.WaitFor(t, 30*time.Second, s.Name+"'s member-failed hook for d", func() bool {
			runs := hookRuns(s, "on-failed")
			return len(runs) == 1 && runs[0].Outcome == "ok"
		})
		files := s.OutFiles("failed-*.env")
		if len(files) != 1 || !strings.Contains(files[0], "failed-d-") {
			t.Fatalf("%s: member-failed files %v, want one for d", s.Name, files)
		}
		envFile := filepath.Join(s.OutDir(), files[0])
		env := readEnvFile(t, envFile)
		want := map[string]string{
			"VIGIL_EVENT": "member-failed", "SERF_EVENT": "member-failed",
			"VIGIL_MEMBER_NAME": "d", "VIGIL_MEMBER_ADDR": "127.0.0.1",
			"VIGIL_SELF_NAME": s.Name, "SERF_SELF_NAME": s.Name, "VIGIL_HTTP_ADDR": s.HTTPAddr(),
			"VIGIL_MEMBER_PORT": strings.Split(victim.GossipAddr(), ":")[1],
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s: hook env %s = %q, want %q", s.Name, k, env[k], v)
			}
		}
		if id, err := strconv.Atoi(env["VIGIL_EVENT_ID"]); err != nil || id <= 0 {
			t.Errorf("%s: VIGIL_EVENT_ID = %q", s.Name, env["VIGIL_EVENT_ID"])
		}
		var doc struct {
			ID      uint64               `json:"id"`
			Event   string               `json:"event"`
			Self    clustertest.Member   `json:"self"`
			Members []clustertest.Member `json:"members"`
		}
		b, _ := os.ReadFile(strings.TrimSuffix(envFile, ".env") + ".json")
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: stdin is not JSON: %v: %q", s.Name, err, b)
		}
		if doc.Event != "member-failed" || len(doc.Members) != 1 || doc.Members[0].Name != "d" ||
			doc.Members[0].Status != "failed" || doc.Members[0].Tags["role"] != "replica" || doc.Self.Name != s.Name {
			t.Errorf("%s: stdin document %+v", s.Name, doc)
		}
	}

	// Graceful leave of c: the others see member-leave, not member-failed.
	leaver := agents[2]
	if err := leaver.Stop(); err != nil {
		t.Fatalf("c exited with %v after SIGTERM, want status 0", err)
	}
	rest := agents[:2]
	clustertest.AllSee(t, 30*time.Second, rest, map[string]string{"c": "left"})
	for _, s := range rest {
		clustertest.WaitFor(t, 20*time.Second, s.Name+"'s member-leave hook for c", func() bool {
			return len(s.OutFiles("leave-c-*.json")) == 1
		})
		if f := s.OutFiles("failed-c-*"); len(f) != 0 {
			t.Errorf("%s ran member-failed for c, which left gracefully: %v", s.Name, f)
		}
		if runs := hookRuns(s, "on-failed"); len(runs) != 1 {
			t.Errorf("%s: %d member-failed runs in all, want exactly 1 (for d)", s.Name, len(runs))
		}
	}
}

// TestHangingHookIsKilledAndGossipGoesOn: a member-join hook that hangs
// after spawning a child is killed with the child at its timeout; while it
// hangs another agent's join still shows; the next event reaches the hook.
func TestHangingHookIsKilledAndGossipGoesOn(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end cluster test")
	}
	cfg := clustertest.WriteConfig(t, `
hooks:
  - name: hang
    on: [member-join]
    timeout: 8s
    shell: |
      if [ "$VIGIL_MEMBER_NAME" = b ]; then
        sleep 600 & echo $! > "$OUT/child"
        sleep 600
      fi
      echo "$VIGIL_MEMBER_NAME" >> "$OUT/joined"
`)
	a := startAgent(t, "a", "-config", cfg)
	clustertest.WaitFor(t, 10*time.Second, "a's own join hook", func() bool { return len(hookRuns(a, "hang")) == 1 })
	b := startAgent(t, "b", "-join", a.GossipAddr())
	clustertest.WaitFor(t, 20*time.Second, "the hook to hang on b's join", func() bool { return len(a.OutFiles("child")) == 1 })

	c := startAgent(t, "c", "-join", a.GossipAddr())
	clustertest.AllSee(t, 20*time.Second, []*clustertest.Agent{a}, map[string]string{"a": "alive", "b": "alive", "c": "alive"})
	if n := len(hookRuns(a, "hang")); n != 1 {
		t.Fatalf("hook finished %d runs while it should still hang on b; the test did not observe the hang", n)
	}
	_ = b
	_ = c

	clustertest.WaitFor(t, 30*time.Second, "the hung run to time out and c's run to follow", func() bool { return len(hookRuns(a, "hang")) == 3 })
	runs := hookRuns(a, "hang")
	if runs[1].Member != "b" || runs[1].Outcome != "timeout" {
		t.Errorf("run for b: %+v, want outcome timeout", runs[1])
	}
	if runs[2].Member != "c" || runs[2].Outcome != "ok" {
		t.Errorf("run for c: %+v, want ok", runs[2])
	}
	pidText := a.ReadOut(a.OutFiles("child")[0])
	pid, _ := strconv.Atoi(strings.TrimSpace(pidText))
	clustertest.WaitFor(t, 10*time.Second, "the hook's child to be killed", func() bool { return processGone(pid) })
	joined, _ := os.ReadFile(filepath.Join(a.OutDir(), "joined"))
	if string(joined) != "a\nc\n" {
		t.Errorf("joined = %q, want a and c (b's run was killed)", joined)
	}
}

// processGone reports whether pid has exited (a zombie counts as exited).
func processGone(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] == "Z"
}

// TestSerfFormatHook: a -hook spec gets exactly serf's stdin lines. Tag
// values with newlines and tabs can no longer reach a hook (an agent
// refuses them at start, TestAgentRefusesInvalidGossipInput, and from
// gossip, TestAgentRefusesHostileMember); serf format's escaping of them
// is unit-tested in events/hook (stdin_test.go).
func TestSerfFormatHook(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end cluster test")
	}
	a := startAgent(t, "a", "-hook", `member-join,member-leave=cat >> "$OUT/serf.txt"; echo "$SERF_EVENT $SERF_SELF_NAME $SERF_SELF_ROLE $SERF_TAG_ROLE" >> "$OUT/env.txt"`,
		"-tag", "role=lb")
	startAgent(t, "b", "-join", a.GossipAddr(), "-tag", "role=db", "-tag", "zone=x=y")
	bootA, bootB := bootOf(t, a, "a"), ""
	clustertest.WaitFor(t, 20*time.Second, "b's boot tag", func() bool {
		var ms []clustertest.Member
		_ = a.Get("/v1/members", &ms)
		for _, m := range ms {
			if m.Name == "b" {
				bootB = m.Tags["boot"]
			}
		}
		return bootB != ""
	})
	want := "a\t127.0.0.1\tlb\tboot=" + bootA + ",role=lb\n" +
		"b\t127.0.0.1\tdb\tboot=" + bootB + ",role=db,zone=x=y\n"
	path := filepath.Join(a.OutDir(), "serf.txt")
	clustertest.WaitFor(t, 20*time.Second, "two serf-format runs", func() bool {
		b, _ := os.ReadFile(path)
		return strings.Count(string(b), "\n") >= 2
	})
	got, _ := os.ReadFile(path)
	if string(got) != want {
		t.Errorf("serf stdin:\n%q\nwant\n%q", got, want)
	}
	env, _ := os.ReadFile(filepath.Join(a.OutDir(), "env.txt"))
	if !strings.HasPrefix(string(env), "member-join a lb lb\n") {
		t.Errorf("serf env line %q", env)
	}
}

// TestConfigErrorExits2: a bad config names the key and line and exits 2.
func TestConfigErrorExits2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "unknown key", args: []string{"-config", clustertest.WriteConfig(t, "name: x\nbogus: 1\n")}, want: "vigil.yaml:2: bogus: unknown key"},
		{name: "bad profile flag", args: []string{"-profile", "turbo"}, want: "-profile: profile: unknown profile \"turbo\""},
		{name: "bad hook spec", args: []string{"-hook", "member-fialed=/bin/true"}, want: "unknown event filter \"member-fialed\""},
		{name: "missing file", args: []string{"-config", "/nonexistent/vigil.yaml"}, want: "/nonexistent/vigil.yaml"},
	}
	bin := clustertest.Build(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"agent"}, tt.args...)...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want status 2; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}
