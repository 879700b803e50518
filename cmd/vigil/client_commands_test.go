package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	"github.com/vigil-agent/vigil/events"
)

func TestClientMembersTagFilter(t *testing.T) {
	_, addr := startFakeAPI(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "one tag", args: []string{"-tag", "role=web"}, want: "" +
			"NAME   ADDRESS        STATUS  HEALTH   TAGS\n" +
			"alpha  10.0.0.1:7946  alive   passing  dc=east,health=passing,role=web,service=web,service_port=8080\n"},
		{name: "every tag must match", args: []string{"-tag", "role=web", "-tag", "dc=west"}, want: "NAME  ADDRESS  STATUS  HEALTH  TAGS\n"},
		{name: "with status", args: []string{"-status", "left", "-tag", "zone=b"}, want: "" +
			"NAME               ADDRESS         STATUS  HEALTH  TAGS\n" +
			"charlie-long-name  [fd00::3]:7950  left    -       zone=b\n"},
		{name: "empty value matches an empty tag only", args: []string{"-tag", "zone="}, want: "NAME  ADDRESS  STATUS  HEALTH  TAGS\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runClient(t, append([]string{"members", "-http-addr", addr}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("output:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}

	got, err := runClient(t, "members", "-http-addr", addr, "-format", "json", "-tag", "zone=b")
	if err != nil {
		t.Fatal(err)
	}
	var ms []events.Member
	if err := json.Unmarshal([]byte(got), &ms); err != nil || len(ms) != 1 || ms[0].Name != "charlie-long-name" {
		t.Errorf("members -format json -tag zone=b: %v %q", err, got)
	}
	_, err = runClient(t, "members", "-http-addr", addr, "-tag", "role")
	wantUsageErr(t, err, `vigil: -tag "role": want KEY=VALUE`)
}

func TestClientForceLeave(t *testing.T) {
	f, addr := startFakeAPI(t)
	got, err := runClient(t, "force-leave", "-http-addr", addr, "bravo")
	if err != nil || got != "Member bravo is forced out of the cluster: it shows as left\n" {
		t.Errorf("force-leave bravo: %q %v", got, err)
	}
	got, err = runClient(t, "force-leave", "-http-addr", addr, "-prune", "charlie-long-name")
	if err != nil || got != "Member charlie-long-name is forced out of the cluster and erased from the member lists\n" {
		t.Errorf("force-leave -prune: %q %v", got, err)
	}
	_, err = runClient(t, "force-leave", "-http-addr", addr, "alpha")
	wantExitErr(t, err, `vigil: force-leave "alpha": it is alive: member is not failed`)
	_, err = runClient(t, "force-leave", "-http-addr", addr, "zulu")
	wantExitErr(t, err, `vigil: force-leave "zulu": unknown member`)
	_, err = runClient(t, "force-leave", "-http-addr", addr)
	wantUsageErr(t, err, "force-leave takes one member NAME")

	f.mu.Lock()
	defer f.mu.Unlock()
	if want := "bravo false,charlie-long-name true"; strings.Join(f.forced, ",") != want {
		t.Errorf("agent saw force-leaves %q, want %q", f.forced, want)
	}
}

// TestClientFormatJSON: every client command takes -format json and then
// prints the API's answer as JSON.
func TestClientFormatJSON(t *testing.T) {
	_, addr := startFakeAPI(t)
	tests := []struct {
		args []string
		key  string // a field the JSON must have
	}{
		{args: []string{"members"}},
		{args: []string{"join", "10.0.0.9:7946"}, key: "joined"},
		{args: []string{"event", "deploy"}, key: "fired"},
		{args: []string{"force-leave", "bravo"}, key: "pruned"},
		{args: []string{"checks"}},
		{args: []string{"health", "web"}},
		{args: []string{"pick", "web"}, key: "node"},
		{args: []string{"maintenance", "on"}, key: "maintenance"},
		{args: []string{"failover", "status"}, key: "brake"},
		{args: []string{"failover", "release"}, key: "released"},
		{args: []string{"reload"}, key: "hooks_changed"},
		{args: []string{"version"}, key: "version"},
		{args: []string{"leave"}, key: "leaving"},
	}
	for _, tt := range tests {
		name := strings.Join(tt.args, " ")
		t.Run(name, func(t *testing.T) {
			// Flags go after the (sub)command's name, before its arguments.
			cmd := tt.args[:1]
			rest := tt.args[1:]
			if tt.args[0] == "failover" {
				cmd, rest = tt.args[:2], tt.args[2:]
			}
			args := append(append(append([]string{}, cmd...), "-format", "json"), rest...)
			if tt.args[0] != "version" {
				args = append(append(append([]string{}, cmd...), "-format", "json", "-http-addr", addr), rest...)
			}
			got, err := runClient(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal([]byte(got), &v); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, got)
			}
			if tt.key != "" {
				if m, ok := v.(map[string]any); !ok || m[tt.key] == nil {
					t.Errorf("JSON lacks %q: %s", tt.key, got)
				}
			}
		})
	}
	for _, args := range [][]string{{"join", "-format", "xml", "-http-addr", addr, "10.0.0.9:7946"}, {"version", "-format", "yaml"}} {
		_, err := runClient(t, args...)
		wantUsageErr(t, err, `-format "`)
	}
}

// walkCommands calls fn for every command and subcommand, with its path.
func walkCommands(prefix string, cmds []*cli.Command, fn func(path string, c *cli.Command)) {
	for _, c := range cmds {
		path := strings.TrimSpace(prefix + " " + c.Name)
		fn(path, c)
		walkCommands(path, c.Subcommands, fn)
	}
}

// TestHelpHasExamples: vigil --help and every command's help show an
// example, and every command that calls the agent has -format.
func TestHelpHasExamples(t *testing.T) {
	app := newApp()
	if !app.EnableBashCompletion {
		t.Error("bash completion is off")
	}
	walkCommands("", app.Commands, func(path string, c *cli.Command) {
		if !strings.Contains(c.UsageText, "Example") {
			t.Errorf("vigil %s: help has no example:\n%s", path, c.UsageText)
		}
		if c.Action == nil {
			return
		}
		httpAddr, format := false, false
		for _, f := range c.Flags {
			httpAddr = httpAddr || hasName(f, "http-addr")
			format = format || hasName(f, "format")
		}
		if httpAddr && !format {
			t.Errorf("vigil %s calls the agent but has no -format", path)
		}
	})

	var out clientBuffer
	app.Writer, app.ErrWriter = &out, &out
	if err := app.Run([]string{"vigil", "--help"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Examples:") || !strings.Contains(out.String(), "vigil agent -dev") {
		t.Errorf("vigil --help shows no example:\n%s", out.String())
	}
	for _, args := range [][]string{{"members", "-h"}, {"keys", "install", "-h"}, {"force-leave", "--help"}} {
		app := newApp()
		var out clientBuffer
		app.Writer, app.ErrWriter = &out, &out
		if err := app.Run(append([]string{"vigil"}, args...)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "Example") {
			t.Errorf("vigil %s shows no example:\n%s", strings.Join(args, " "), out.String())
		}
	}
}

func TestCompletion(t *testing.T) {
	run := func(args ...string) (string, error) {
		app := newApp()
		var out clientBuffer
		app.Writer, app.ErrWriter = &out, &out
		app.ExitErrHandler = func(*cli.Context, error) {}
		// urfave/cli's completion reads os.Args, not the arguments of Run.
		saved := os.Args
		os.Args = append([]string{"vigil"}, args...)
		defer func() { os.Args = saved }()
		err := app.Run(os.Args)
		return out.String(), err
	}
	got, err := run("completion", "bash")
	if err != nil || !strings.Contains(got, "complete -o bashdefault -o default -F _vigil_complete vigil") ||
		!strings.Contains(got, "--generate-bash-completion") {
		t.Errorf("completion bash: %v\n%s", err, got)
	}
	got, err = run("completion", "zsh")
	if err != nil || !strings.Contains(got, "compdef _vigil_complete vigil") || !strings.Contains(got, "--generate-bash-completion") {
		t.Errorf("completion zsh: %v\n%s", err, got)
	}
	got, err = run("completion", "fish")
	if err != nil || !strings.Contains(got, "complete -c vigil") || !strings.Contains(got, "-a 'members'") {
		t.Errorf("completion fish: %v\n%s", err, got)
	}
	_, err = run("completion", "fsh")
	wantUsageErr(t, err, `completion: unknown shell "fsh": want bash, zsh or fish (did you mean "fish"?)`)

	// What the script asks vigil: the commands, then a command's flags.
	got, err = run("--generate-bash-completion")
	if err != nil || !strings.Contains(got, "force-leave\n") || !strings.Contains(got, "members\n") {
		t.Errorf("command completion: %v\n%s", err, got)
	}
	got, err = run("members", "-", "--generate-bash-completion")
	if err != nil || !strings.Contains(got, "--tag\n") || !strings.Contains(got, "--status\n") {
		t.Errorf("flag completion: %v\n%s", err, got)
	}
}

// TestCheckOutputCell: `vigil checks` shows a check's whole reason on one
// line (a failing HTTP check's status line was cut off at 60 bytes), cut
// only past 300 characters and never inside one, saying what -format json
// has.
func TestCheckOutputCell(t *testing.T) {
	long := strings.Repeat("é", 299) + "xyz"
	for _, tc := range []struct{ in, want string }{
		{"HTTP GET http://127.0.0.1:8080/health: 500 Internal Server Error", "HTTP GET http://127.0.0.1:8080/health: 500 Internal Server Error"},
		{"line one\nline two\n", "line one line two"},
		{long, strings.Repeat("é", 299) + "x... (2 more bytes: -format json shows all)"},
	} {
		if got := checkOutputCell(tc.in); got != tc.want {
			t.Errorf("checkOutputCell(%.40q...) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestHelpExamplesParse: every example line of every command's help (the
// "vigil ..." lines after "Example"), and of vigil --help, parses as a
// command line: the help cannot show a flag or command the binary lost.
func TestHelpExamplesParse(t *testing.T) {
	n := 0
	check := func(where, text string) {
		_, examples, ok := strings.Cut(text, "Example")
		if !ok {
			return
		}
		for _, line := range strings.Split(examples, "\n") {
			line = strings.TrimSpace(line)
			line, _, _ = strings.Cut(line, "  #")
			if !strings.HasPrefix(line, "vigil ") {
				continue
			}
			args, ok := shellSplit(strings.TrimPrefix(line, "vigil "))
			if !ok || len(args) == 0 {
				continue
			}
			n++
			if msg, code := parseOnly(args); code != 0 {
				t.Errorf("%s: example %q does not parse: %s", where, line, msg)
			}
		}
	}
	app := newApp()
	walkCommands("", app.Commands, func(path string, c *cli.Command) { check("vigil "+path+" -h", c.UsageText) })
	check("vigil --help", app.Description+"\n"+app.UsageText)
	if n < 20 {
		t.Errorf("checked only %d help examples", n)
	}
}

// TestFishCompletionAfterHelp: `vigil completion fish` in a process that
// already ran `vigil help` (as the tests do, and as a shell's completion
// setup can) ends. Before, running the help command added the shared help
// command to its own subcommands, and the fish script's walk of the
// command tree recursed until the stack overflowed (a -count=3 run of
// cmd/vigil).
func TestFishCompletionAfterHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"help", "members"}, {"completion", "fish"}} {
		if _, stderr, code := runVigil(t, args...); code != 0 {
			t.Fatalf("vigil %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
	}
	stdout, stderr, code := runVigil(t, "completion", "fish")
	if code != 0 || !strings.Contains(stdout, "-a 'members'") {
		t.Fatalf("vigil completion fish after help: exit %d: %s\n%s", code, stderr, stdout)
	}
}
