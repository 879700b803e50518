package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestAgentFlagLists: one rule for lists. -join (and -http-allowed-host)
// is repeatable and comma-separated, like VIGIL_JOIN; -tag takes one
// KEY=VALUE per flag and refuses a comma in a value, naming the flags to
// write instead; -hook keeps its commas (serf's filter lists).
func TestAgentFlagLists(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		join    []string
		tags    map[string]string
		hooks   []string
		wantErr string
	}{
		{name: "join comma list", args: []string{"-join", "10.0.0.4:7946,10.0.0.6:7946", "-join", " 10.0.0.7:7946 ,"},
			join: []string{"10.0.0.4:7946", "10.0.0.6:7946", "10.0.0.7:7946"}},
		{name: "join as VIGIL_JOIN", env: map[string]string{"VIGIL_JOIN": "10.0.0.4:7946,10.0.0.6:7946"},
			join: []string{"10.0.0.4:7946", "10.0.0.6:7946"}},
		{name: "tag repeated", args: []string{"-tag", "role=replica", "-tag", "dc=east-1"},
			tags: map[string]string{"role": "replica", "dc": "east-1"}},
		{name: "tag list refused", args: []string{"-tag", "role=replica,dc=east-1"},
			wantErr: `-tag: tags: tag "role=replica,dc=east-1": one tag per -tag: -tag role=replica -tag dc=east-1`},
		{name: "tag value with a comma refused", args: []string{"-tag", "zones=a,b"},
			wantErr: `-tag: tags: tag "zones=a,b": a value cannot hold a comma on the command line or in VIGIL_TAG`},
		{name: "hook keeps commas", args: []string{"-hook", "member-join,member-failed=echo a,b"},
			hooks: []string{"member-join,member-failed=echo a,b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("VIGIL_JOIN", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := loadAgentConfig(t, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.join != nil && !reflect.DeepEqual(cfg.Join, tt.join) {
				t.Errorf("join %q, want %q", cfg.Join, tt.join)
			}
			for k, v := range tt.tags {
				if cfg.Tags[k] != v {
					t.Errorf("tag %s = %q, want %q (tags %v)", k, cfg.Tags[k], v, cfg.Tags)
				}
			}
			if tt.hooks != nil && !reflect.DeepEqual(cfg.HookSpecs, tt.hooks) {
				t.Errorf("hook specs %q, want %q", cfg.HookSpecs, tt.hooks)
			}
		})
	}
}

// TestUsageErrors: a usage error prints one line and a hint to the
// command's help on stderr, nothing on stdout, and exits 2; a name close
// to a command or flag gets a suggestion; help goes to stdout only when
// asked.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stderr []string // lines, in order; "" for none
		stdout string   // a substring; "" for nothing at all
	}{
		{args: []string{"bogus"}, code: 2, stderr: []string{`vigil: unknown command "bogus" for "vigil"`, `Run "vigil -h" for usage.`}},
		{args: []string{"membres"}, code: 2, stderr: []string{`vigil: unknown command "membres" for "vigil" (did you mean "members"?)`, `Run "vigil -h" for usage.`}},
		{args: []string{"members", "-bogus"}, code: 2, stderr: []string{`vigil: unknown flag -bogus`, `Run "vigil members -h" for usage.`}},
		{args: []string{"members", "-stauts", "alive"}, code: 2, stderr: []string{`vigil: unknown flag -stauts (did you mean -status?)`, `Run "vigil members -h" for usage.`}},
		{args: []string{"members", "-status", "dead"}, code: 2, stderr: []string{`vigil: -status "dead": want alive, leaving, left or failed`, `Run "vigil members -h" for usage.`}},
		{args: []string{"agent", "-dev=maybe"}, code: 2, stderr: []string{`vigil: invalid boolean value "maybe" for -dev: parse error`, `Run "vigil agent -h" for usage.`}},
		{args: []string{"force-leave", "db-3", "-prune"}, code: 2, stderr: []string{`vigil: flag -prune comes after the arguments: flags go before them: vigil force-leave -prune db-3`, `Run "vigil force-leave -h" for usage.`}},
		{args: []string{"event", "-http-addr", "127.0.0.1:1", "deploy", "-format", "json", "v1"}, code: 2, stderr: []string{`vigil: flag -format comes after the arguments: flags go before them: vigil event -http-addr 127.0.0.1:1 -format json deploy v1`, `Run "vigil event -h" for usage.`}},
		{args: []string{"keys", "instal"}, code: 2, stderr: []string{`vigil: unknown command "instal" for "vigil keys" (did you mean "install"?)`, `Run "vigil keys -h" for usage.`}},
		{args: []string{"members", "-http-addr", "localhost"}, code: 2, stderr: []string{`vigil: -http-addr "localhost": no port: want HOST:PORT, like 127.0.0.1:7947 (the agent's -http)`, `Run "vigil members -h" for usage.`}},
		{args: []string{"members", "-http-addr", "127.0.0.1:79470"}, code: 2, stderr: []string{`vigil: -http-addr "127.0.0.1:79470": port "79470": want a number from 1 to 65535`, `Run "vigil members -h" for usage.`}},
		{args: []string{"members", "-http-addr", "ftp://127.0.0.1:7947"}, code: 2, stderr: []string{`vigil: -http-addr "ftp://127.0.0.1:7947": scheme "ftp": want http:// or https://`, `Run "vigil members -h" for usage.`}},
		{args: []string{"members", "-http-addr", "nosuchhost.invalid:7947"}, code: 1, stderr: []string{`vigil: -http-addr nosuchhost.invalid:7947: host "nosuchhost.invalid" not found (no such host)`}},
		{args: []string{"completion"}, code: 2, stderr: []string{`vigil: completion takes the shell's name: bash, zsh or fish (got [])`, `Run "vigil completion -h" for usage.`}},
		{args: []string{"--version"}, code: 0, stderr: []string{""}, stdout: "vigil " + version + "\n"},
		{args: []string{"version"}, code: 0, stderr: []string{""}, stdout: "vigil " + version + "\n"},
		{args: []string{"members", "-h"}, code: 0, stderr: []string{""}, stdout: "vigil members - list the cluster's members"},
		{args: []string{"--help"}, code: 0, stderr: []string{""}, stdout: "vigil COMMAND [flags] [arguments]"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, code := runVigil(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d\nstderr: %s", code, tt.code, stderr)
			}
			if got := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n"); !reflect.DeepEqual(got, tt.stderr) {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr, strings.Join(tt.stderr, "\n"))
			}
			if tt.stdout == "" && stdout != "" || !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout:\n%s\nwant it to hold %q", stdout, tt.stdout)
			}
		})
	}

	// vigil alone: the help on stderr, not stdout, and exit status 2.
	stdout, stderr, code := runVigil(t)
	if code != 2 || stdout != "" || !strings.Contains(stderr, "USAGE:") || !strings.HasSuffix(stderr, "vigil: vigil needs a command\n") {
		t.Errorf("vigil alone: status %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
}

// TestSuggest: a typo of at most a third of the name (1 to 3 edits), or a
// prefix, finds its name; a name too far or too short finds none.
func TestSuggest(t *testing.T) {
	names := []string{"members", "maintenance", "monitor", "join", "leave", "force-leave", "http-addr"}
	tests := []struct{ in, want string }{
		{"membres", "members"}, {"memebrs", "members"}, {"jion", "join"}, {"maint", "maintenance"},
		{"forceleave", "force-leave"}, {"http_addr", "http-addr"}, {"xyzzy", ""}, {"jn", ""}, {"", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, names); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestUsageErrorExitStatus: the binary exits 2 on a usage error, so a
// unit's RestartPreventExitStatus=2 stops a mistyped ExecStart, and a
// join through the agent's HTTP port by mistake names the cause.
func TestUsageErrorExitStatus(t *testing.T) {
	out, err := execVigil(t, "agent", "-bnd", "127.0.0.1:7946")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("vigil agent -bnd: %v, want exit status 2\n%s", err, out)
	}
	if want := "vigil: unknown flag -bnd (did you mean -bind?)\nRun \"vigil agent -h\" for usage.\n"; out != want {
		t.Errorf("vigil agent -bnd prints:\n%s\nwant:\n%s", out, want)
	}

	a := startAgent(t, "a")
	out, err = execVigil(t, "join", "-http-addr", a.HTTPAddr(), a.HTTPAddr())
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("vigil join HTTP-PORT: %v, want exit status 1\n%s", err, out)
	}
	if want := fmt.Sprintf("vigil: join: %s answered HTTP, not gossip: use the agent's -bind port (gossip), not its -http port\n", a.HTTPAddr()); out != want {
		t.Errorf("vigil join HTTP-PORT prints:\n%s\nwant:\n%s", out, want)
	}
}

// TestCompletionShells runs the zsh and fish scripts in their shells when
// the machine has them: zsh parses its script, and fish completes a
// command and a flag with it, from the real binary.
func TestCompletionShells(t *testing.T) {
	bin := clustertest.Build(t)
	dir := t.TempDir()
	for _, sh := range []string{"zsh", "fish"} {
		t.Run(sh, func(t *testing.T) {
			path, err := exec.LookPath(sh)
			if err != nil {
				t.Skipf("%s is not installed", sh)
			}
			stdout, stderr, code := runVigil(t, "completion", sh)
			if code != 0 {
				t.Fatalf("vigil completion %s: %d %s", sh, code, stderr)
			}
			script := filepath.Join(dir, "vigil."+sh)
			if err := os.WriteFile(script, []byte(stdout), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(path, "-n", script).CombinedOutput(); err != nil {
				t.Fatalf("%s -n: %v\n%s", sh, err, out)
			}
			if sh != "fish" {
				return
			}
			cmd := exec.Command(path, "-c", `source `+script+`; complete -C "vigil mem"; complete -C "vigil members --sta"`)
			cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "members\tlist the cluster's members") || !strings.Contains(string(out), "--status\t") {
				t.Errorf("fish completes: %v\n%s", err, out)
			}
		})
	}
}

// TestSerfAgentFlags: serf's agent flags that mean what a vigil flag
// means are accepted as its other names; the others are refused (exit
// status 2) with the reason and the whole vigil command line to run
// instead.
func TestSerfAgentFlags(t *testing.T) {
	t.Setenv("VIGIL_JOIN", "")
	// The serf command line works as it is.
	cfg, err := loadAgentConfig(t, "-node", "n1", "-event-handler", "member-failed=./h.sh", "-retry-join", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "n1" || !reflect.DeepEqual(cfg.HookSpecs, []string{"member-failed=./h.sh"}) || !reflect.DeepEqual(cfg.Join, []string{"10.0.0.1"}) {
		t.Errorf("serf's flags gave name %q, hooks %q, join %q", cfg.Name, cfg.HookSpecs, cfg.Join)
	}

	tagsFile := filepath.Join(t.TempDir(), "tags.json")
	if err := os.WriteFile(tagsFile, []byte(`{"role":"web","dc":"east"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    []string
		reasons []string
		instead string
	}{
		{args: []string{"-node", "n1", "-rpc-addr", "127.0.0.1:7373", "-retry-join", "10.0.0.1"},
			reasons: []string{"-rpc-addr: vigil has no RPC"},
			instead: "vigil agent -node n1 -http 127.0.0.1:7373 -retry-join 10.0.0.1"},
		{args: []string{"-tags-file", tagsFile, "-snapshot=/var/lib/serf/serf.snapshot", "-bind", "10.0.0.5:7946"},
			reasons: []string{"-snapshot: vigil keeps serf's snapshot in -data-dir", "-tags-file: vigil's tags come from -tag"},
			instead: "vigil agent -tag dc=east -tag role=web -data-dir /var/lib/serf -bind 10.0.0.5:7946"},
		{args: []string{"-rejoin", "-replay", "-role", "db", "-join", "10.0.0.4:7946"},
			reasons: []string{"-rejoin: vigil always rejoins", "-replay: vigil never replays", "-role: serf's role is the tag role"},
			instead: "vigil agent -tag role=db -join 10.0.0.4:7946"},
		{args: []string{"-config-file", "/etc/serf/agent.json", "-retry-interval", "5s", "-discover", "web"},
			reasons: []string{"-config-file: vigil's config file is YAML", "-retry-interval: vigil's -join", "-discover: vigil has no mDNS"},
			instead: "vigil agent -config /etc/serf/agent.yaml"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, stderr, code := runVigil(t, append([]string{"agent"}, tt.args...)...)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			first, hint, _ := strings.Cut(strings.TrimSuffix(stderr, "\n"), "\n")
			if !strings.HasSuffix(first, "; instead: "+tt.instead) || hint != `Run "vigil agent -h" for usage.` {
				t.Errorf("stderr:\n%s\nwant it to end with the command line %q", stderr, tt.instead)
			}
			for _, r := range tt.reasons {
				if !strings.Contains(first, r) {
					t.Errorf("stderr lacks %q:\n%s", r, stderr)
				}
			}
		})
	}

	// A client command answers -rpc-addr with -http-addr.
	_, stderr, code := runVigil(t, "members", "-rpc-addr", "127.0.0.1:7373")
	if code != 2 || !strings.Contains(stderr, "use -http-addr ADDR") {
		t.Errorf("members -rpc-addr: %d %s", code, stderr)
	}
}

// TestSerfFlagsRun: an agent started with serf's -event-handler and
// -retry-join joins its seed and runs the handler, with serf's
// environment, when the seed fails.
func TestSerfFlagsRun(t *testing.T) {
	seed := startAgent(t, "seed")
	b := startAgent(t, "b", "-event-handler", `member-failed=echo "$SERF_EVENT $VIGIL_MEMBER_NAME" >> "$OUT/failed.txt"`, "-retry-join", seed.GossipAddr())
	clustertest.AllSee(t, 20*time.Second, []*clustertest.Agent{b}, map[string]string{"seed": "alive", "b": "alive"})
	seed.Kill()
	out := filepath.Join(b.OutDir(), "failed.txt")
	clustertest.WaitFor(t, 20*time.Second, "b's -event-handler to run for seed", func() bool {
		got, _ := os.ReadFile(out)
		return string(got) == "member-failed seed\n"
	})
}

// TestClientMembersSerfJSON: members -format serf-json prints serf
// members -format json's document: {"members": [...]}, addr as IP:PORT
// (brackets for IPv6), every tag, serf's protocol range; filters apply.
func TestClientMembersSerfJSON(t *testing.T) {
	_, addr := startFakeAPI(t)
	got, err := runClient(t, "members", "-http-addr", addr, "-format", "serf-json", "-status", "left")
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "members": [
    {
      "name": "charlie-long-name",
      "addr": "[fd00::3]:7950",
      "port": 7950,
      "tags": {
        "zone": "b"
      },
      "status": "left",
      "protocol": {
        "max": 5,
        "min": 2,
        "version": 4
      }
    }
  ]
}
`
	if got != want {
		t.Errorf("members -format serf-json:\n%s\nwant:\n%s", got, want)
	}
	got, err = runClient(t, "members", "-http-addr", addr, "-format", "serf-json", "-tag", "role=web")
	if err != nil || !strings.Contains(got, `"addr": "10.0.0.1:7946"`) || !strings.Contains(got, `"boot": "lz3k"`) || strings.Contains(got, "bravo") {
		t.Errorf("members -format serf-json -tag role=web: %v\n%s", err, got)
	}
	got, err = runClient(t, "members", "-http-addr", addr, "-format", "serf-json", "-tag", "role=none")
	if err != nil || got != "{\n  \"members\": []\n}\n" {
		t.Errorf("no member: %v %q", err, got)
	}
}
