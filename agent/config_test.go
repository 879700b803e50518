package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events/hook"
	"github.com/vigil-agent/vigil/membership"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkValidate loads body as a config file and validates it: want is
// part of the error expected, or "" for a valid config.
func checkValidate(t *testing.T, body, want string) {
	t.Helper()
	cfg := Default()
	if err := cfg.LoadFile(writeFile(t, body)); err != nil {
		t.Fatal(err)
	}
	err := cfg.Validate()
	switch {
	case want == "" && err != nil:
		t.Fatalf("valid config refused: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("error %v, want one containing %q", err, want)
	}
}

func TestLoadFileErrorsNameKeyAndLine(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{name: "unknown top-level key", body: "name: a\nbnid: 1.2.3.4:1\n", want: []string{"vigil.yaml:2: bnid: unknown key"}},
		{name: "unknown hook key", body: "hooks:\n  - name: x\n    shell: 'true'\n    tiemout: 5s\n", want: []string{":4: hooks[0].tiemout: unknown key"}},
		{name: "wrong type", body: "join: 5\n", want: []string{":1:"}},
		{name: "bad duration", body: "hook_timeout: 10\n", want: []string{":1:", "is not a duration"}},
		{name: "bad yaml", body: "name: [\n", want: []string{"vigil.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			err := cfg.LoadFile(writeFile(t, tt.body))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	body := `name: n1
bind: 127.0.0.1
profile: turbo
log_level: loud
hooks:
  - name: a
    on: [member-fialed]
    shell: 'true'
  - name: b
  - name: c
    shell: 'true'
    command: [/bin/true]
  - name: d
    shell: 'true'
    stdin: xml
`
	cfg := Default()
	if err := cfg.LoadFile(writeFile(t, body)); err != nil {
		t.Fatal(err)
	}
	err := cfg.Validate()
	var errs ConfigErrors
	if !errors.As(err, &errs) {
		t.Fatalf("Validate() = %v, want ConfigErrors", err)
	}
	for _, want := range []string{
		"vigil.yaml:2: bind:",
		"vigil.yaml:3: profile: unknown profile \"turbo\"",
		"vigil.yaml:4: log_level:",
		"vigil.yaml:7: hooks[0].on: unknown event filter \"member-fialed\"",
		"vigil.yaml:9: hooks[1]: needs a command",
		"vigil.yaml:10: hooks[2]: set command or shell, not both",
		"hooks[3]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	if len(errs) != 7 {
		t.Errorf("got %d errors, want 7:\n%v", len(errs), err)
	}
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	cfg := Default()
	body := "name: from-file\nbind: 127.0.0.1:1000\nhttp: 127.0.0.1:2000\nprofile: wan\ntags: {role: primary, dc: east}\njoin: [10.0.0.1:7946]\n"
	if err := cfg.LoadFile(writeFile(t, body)); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VIGIL_NAME": "from-env", "VIGIL_BIND": "127.0.0.1:3000", "VIGIL_TAG": "dc=west,zone=a",
		"VIGIL_JOIN": "10.0.0.2:7946", "VIGIL_HOOK": "member-join=echo a,b\nmember-failed=echo c"}
	if err := cfg.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	opt := func(flag string) *Option {
		for _, o := range Options {
			if o.Flag == flag {
				return o
			}
		}
		t.Fatalf("no option %s", flag)
		return nil
	}
	if err := cfg.ApplyOption(opt("name"), "from-flag", "-name"); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ what, got, want string }{
		{"name (flag over env over file)", cfg.Name, "from-flag"},
		{"bind (env over file)", cfg.Bind, "127.0.0.1:3000"},
		{"http (file over default)", cfg.HTTP, "127.0.0.1:2000"},
		{"profile (file)", cfg.Profile, "wan"},
		{"tag role (file)", cfg.Tags["role"], "primary"},
		{"tag dc (env over file)", cfg.Tags["dc"], "west"},
		{"tag zone (env)", cfg.Tags["zone"], "a"},
		{"join (file and env)", strings.Join(cfg.Join, " "), "10.0.0.1:7946 10.0.0.2:7946"},
		{"hook specs (one per line)", strings.Join(cfg.HookSpecs, "|"), "member-join=echo a,b|member-failed=echo c"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if cfg.where("bind") != "VIGIL_BIND" || cfg.where("http") == "" {
		t.Errorf("sources: bind from %q, http from %q", cfg.where("bind"), cfg.where("http"))
	}
}

func TestBuildHooks(t *testing.T) {
	cfg := Default()
	body := `hooks:
  - name: promote
    on: [member-failed, user:promote]
    command: [/usr/local/bin/promote, --fast]
    timeout: 30s
  - shell: 'logger joined'
    on: [member-join]
    stdin: serf
`
	if err := cfg.LoadFile(writeFile(t, body)); err != nil {
		t.Fatal(err)
	}
	cfg.HookSpecs = []string{"member-leave=/bin/on-leave"}
	hooks, err := cfg.buildHooks()
	if err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 3 {
		t.Fatalf("%d hooks", len(hooks))
	}
	if h := hooks[0]; h.Name != "promote" || h.Timeout != 30*time.Second || len(h.Command) != 2 || h.Filters.Strings()[1] != "user:promote" {
		t.Errorf("hook 0 = %+v", h)
	}
	if h := hooks[1]; h.Name != "hook-2" || h.Stdin != hook.StdinSerf || h.Shell != "logger joined" {
		t.Errorf("hook 1 = %+v", h)
	}
	if h := hooks[2]; h.Name != "hook-3" || h.Stdin != hook.StdinSerf || h.Shell != "/bin/on-leave" {
		t.Errorf("hook 2 = %+v", h)
	}
}

func TestListsAddUpAcrossFiles(t *testing.T) {
	cfg := Default()
	first := writeFile(t, "join: [10.0.0.1:7946]\nhooks:\n  - {name: a, shell: 'true'}\n")
	second := writeFile(t, "join: [10.0.0.2:7946]\nhooks:\n  - {name: b, shell: 'true'}\n  - {name: c, on: [nope], shell: 'true'}\n")
	for _, f := range []string{first, second} {
		if err := cfg.LoadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(cfg.Join, " "); got != "10.0.0.1:7946 10.0.0.2:7946" {
		t.Errorf("join = %q", got)
	}
	if len(cfg.Hooks) != 3 || cfg.Hooks[0].Name != "a" || cfg.Hooks[2].Name != "c" {
		t.Fatalf("hooks = %+v", cfg.Hooks)
	}
	// The error names the second file's line of the third hook.
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), second+":4: hooks[2].on") {
		t.Errorf("error %v, want it at %s:4 hooks[2].on", err, second)
	}
}

func TestValidateJoinInterval(t *testing.T) {
	tests := []struct {
		body string
		want string // "" when valid
	}{
		{"", ""}, // the default, 30s
		{"join_interval: 0s\n", ""},
		{"join_interval: 5s\n", ""},
		{"join_interval: 500ms\n", "vigil.yaml:1: join_interval: 500ms: must be 0 (join only at start) or at least 1s"},
		{"join_interval: -1s\n", "join_interval: -1s: must be 0"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) { checkValidate(t, tt.body, tt.want) })
	}
	if got := Default().JoinInterval; got != Duration(DefaultJoinInterval) {
		t.Errorf("default join_interval %s, want %s", got, DefaultJoinInterval)
	}
}

func TestValidateHookStormBounds(t *testing.T) {
	tests := []struct {
		body string
		want string // "" when valid
	}{
		{"", ""}, // the defaults: 2 × CPUs (at least 4), 500ms
		{"hook_max_concurrent: 0\n", ""},
		{"hook_max_concurrent: 2\n", ""},
		{"hook_max_concurrent: -1\n", "vigil.yaml:1: hook_max_concurrent: -1: must be 0 (no limit) or more"},
		{"hook_coalesce: 0s\n", ""},
		{"hook_coalesce: 2s\n", ""},
		{"hook_coalesce: 11s\n", "vigil.yaml:1: hook_coalesce: 11s: must be from 0 (off) to 10s"},
		{"hook_coalesce: -1s\n", "hook_coalesce: -1s: must be from 0 (off) to 10s"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) { checkValidate(t, tt.body, tt.want) })
	}
	d := Default()
	if d.HookMaxConcurrent != hook.DefaultMaxConcurrent() || d.HookMaxConcurrent < 4 {
		t.Errorf("default hook_max_concurrent %d, want %d (at least 4)", d.HookMaxConcurrent, hook.DefaultMaxConcurrent())
	}
	if d.HookCoalesce != Duration(hook.DefaultCoalesceWindow) {
		t.Errorf("default hook_coalesce %s, want %s", d.HookCoalesce, hook.DefaultCoalesceWindow)
	}
}

func TestValidateJoinSyncRounds(t *testing.T) {
	tests := []struct {
		body string
		want string // "" when valid
	}{
		{"", ""}, // the default, 8
		{"join_sync_rounds: 0\n", ""},
		{"join_sync_rounds: 30\n", ""},
		{"join_sync_rounds: 31\n", "vigil.yaml:1: join_sync_rounds: 31: must be from 0 (off) to 30"},
		{"join_sync_rounds: -1\n", "join_sync_rounds: -1: must be from 0 (off) to 30"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) { checkValidate(t, tt.body, tt.want) })
	}
	if got := Default().JoinSyncRounds; got != membership.DefaultJoinSyncRounds {
		t.Errorf("default join_sync_rounds %d, want %d", got, membership.DefaultJoinSyncRounds)
	}
}
