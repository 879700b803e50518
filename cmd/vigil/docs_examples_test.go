package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	"github.com/vigil-agent/vigil/membership"
)

// runVigil runs the vigil command line in this process, as the binary
// would (run), and returns its stdout, stderr and exit status.
func runVigil(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut clientBuffer
	code = run(append([]string{"vigil"}, args...), &out, &errOut)
	return out.String(), errOut.String(), code
}

// docBlock is one fenced block of a markdown file.
type docBlock struct {
	file, lang, body string
	line             int // of the block's first line of text
}

// docBlocks returns the fenced blocks of README.md and docs/*.md.
func docBlocks(t *testing.T) []docBlock {
	t.Helper()
	files, _ := filepath.Glob("../../docs/*.md")
	files = append([]string{"../../README.md"}, files...)
	var out []docBlock
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cur *docBlock
		for i, l := range strings.Split(string(b), "\n") {
			switch {
			case cur == nil && strings.HasPrefix(l, "```"):
				cur = &docBlock{file: strings.TrimPrefix(f, "../../"), lang: strings.TrimSpace(l[3:]), line: i + 2}
			case cur != nil && strings.HasPrefix(l, "```"):
				out = append(out, *cur)
				cur = nil
			case cur != nil:
				cur.body += l + "\n"
			}
		}
	}
	if len(out) < 100 {
		t.Fatalf("found only %d fenced blocks: the parsing is broken", len(out))
	}
	return out
}

// TestDocConfigExamplesValidate: every ```yaml block of README.md and
// docs/*.md that is a vigil configuration passes vigil validate. A list of
// checks (- id:) or of hooks (- name:) is checked under checks: (with a
// service) or hooks:; Kubernetes manifests are left out. A file the
// example names under /etc that this machine lacks is the only problem
// allowed.
func TestDocConfigExamplesValidate(t *testing.T) {
	n := 0
	for _, b := range docBlocks(t) {
		if b.lang != "yaml" || strings.Contains(b.body, "apiVersion:") {
			continue
		}
		n++
		body := b.body
		trimmed := strings.TrimLeft(body, " \n")
		indent := func(s string) string {
			return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
		}
		switch {
		case strings.HasPrefix(trimmed, "- id:"):
			body = "service: {name: svc, port: 8080}\nchecks:\n" + indent(body)
		case strings.HasPrefix(trimmed, "- name:"):
			body = "hooks:\n" + indent(body)
		}
		where := fmt.Sprintf("%s:%d", b.file, b.line)
		t.Run(where, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "example.yaml")
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := runVigil(t, "validate", path)
			if code == 0 {
				return
			}
			for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
				if strings.HasPrefix(l, "vigil: ") && strings.Contains(l, " in "+path) {
					continue // the summary line
				}
				if strings.Contains(l, "open /etc/") && strings.Contains(l, "no such file or directory") {
					continue
				}
				t.Errorf("the example at %s is not valid: %s\n%s", where, l, body)
			}
		})
	}
	if n < 15 {
		t.Fatalf("checked only %d yaml examples", n)
	}
}

// TestDocConfigErrorExample runs the example of configuration.md's
// "Validation" section, a file and a flag with errors, and compares what
// vigil agent prints with the docs.
func TestDocConfigErrorExample(t *testing.T) {
	var script, want string
	blocks := docBlocks(t)
	for i, b := range blocks {
		if b.file == "docs/configuration.md" && strings.Contains(b.body, "/tmp/bad.yaml") && i+1 < len(blocks) {
			script, want = b.body, blocks[i+1].body
			break
		}
	}
	if script == "" {
		t.Fatal("configuration.md has no /tmp/bad.yaml example")
	}
	printf := regexp.MustCompile(`(?m)^printf '([^']*)' > /tmp/bad.yaml$`).FindStringSubmatch(script)
	cmd := regexp.MustCompile(`(?m)^/tmp/vigil (agent .*)$`).FindStringSubmatch(script)
	if printf == nil || cmd == nil {
		t.Fatalf("the example's printf or vigil line is not as this test reads it:\n%s", script)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.ReplaceAll(printf[1], `\n`, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	args := strings.Fields(strings.ReplaceAll(cmd[1], "/tmp/bad.yaml", bad))
	_, stderr, code := runVigil(t, args...)
	got := strings.ReplaceAll(stderr, bad, "/tmp/bad.yaml") + fmt.Sprintf("exit status %d\n", code)
	if got != want {
		t.Errorf("vigil %s prints:\n%s\ndocs/configuration.md says:\n%s", cmd[1], got, want)
	}
}

// TestDocArchitecture: architecture.md's cmd/vigil row names every
// command, and its table of timing profiles is memberlist's configuration
// for each profile.
func TestDocArchitecture(t *testing.T) {
	b, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	row := regexp.MustCompile("(?m)^\\| `cmd/vigil` \\|.*$").FindString(doc)
	for _, c := range newApp().Commands {
		if !strings.Contains(row, "`"+c.Name+"`") && !strings.Contains(row, "`vigil "+c.Name+"`") {
			t.Errorf("architecture.md's cmd/vigil row does not name the command %s", c.Name)
		}
	}

	_, table, ok := strings.Cut(doc, "| | `lan` (default) | `wan` | `local` (`-dev`) | `fast` |\n")
	if !ok {
		t.Fatal("architecture.md has no table of timing profiles")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	profiles := []membership.Profile{membership.ProfileLAN, membership.ProfileWAN, membership.ProfileLocal, membership.ProfileFast}
	rows := 0
	for _, line := range strings.Split(table, "\n")[1:] {
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 5 {
			t.Fatalf("row %q: want 5 cells", line)
		}
		rows++
		sep := regexp.MustCompile(` / | × `)
		fields := sep.Split(strings.TrimSpace(cells[0]), -1)
		for i, p := range profiles {
			mc, err := membership.MemberlistConfig(p)
			if err != nil {
				t.Fatal(err)
			}
			values := sep.Split(strings.TrimSpace(cells[i+1]), -1)
			if len(values) != len(fields) {
				t.Fatalf("row %q, %s: %d values for %d fields", line, p, len(values), len(fields))
			}
			for j, f := range fields {
				v := reflect.ValueOf(mc).Elem().FieldByName(f)
				if !v.IsValid() {
					t.Fatalf("memberlist.Config has no field %s", f)
				}
				var got string
				switch x := v.Interface().(type) {
				case time.Duration:
					d, err := time.ParseDuration(strings.ReplaceAll(values[j], " ", ""))
					if err != nil || d != x {
						got = x.String()
					}
				case int:
					if values[j] != strconv.Itoa(x) {
						got = strconv.Itoa(x)
					}
				default:
					t.Fatalf("field %s is a %T", f, x)
				}
				if got != "" {
					t.Errorf("architecture.md: %s %s is %s, memberlist's config has %s", p, f, values[j], got)
				}
			}
		}
	}
	if rows != 4 {
		t.Errorf("the profile table has %d rows, want 4", rows)
	}
}

// docCommandLine is one vigil command line of the docs.
type docCommandLine struct {
	where string
	args  []string
}

// vigilInvocation is a command that runs vigil: the binary, a build of it
// (/tmp/vigil), or go run of its package, after any VAR=value
// assignments, sudo or a "--" (kubectl exec POD -- vigil members).
var vigilInvocation = regexp.MustCompile(`^(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*(?:sudo\s+)?(?:\S*/)?(?:vigil|go run \./cmd/vigil)((?:\s|$).*)`)

// shellCommands splits a shell line into its simple commands: a command
// substitution $(...) is one (and the word SUBST where it stood), the rest
// is split at | ; & ( outside quotes and after a " -- ".
func shellCommands(l string) []string {
	var out []string
	subst := regexp.MustCompile(`\$\(([^()]*)\)`)
	for {
		m := subst.FindStringSubmatchIndex(l)
		if m == nil {
			break
		}
		out = append(out, shellCommands(l[m[2]:m[3]])...)
		l = l[:m[0]] + "SUBST" + l[m[1]:]
	}
	var cur strings.Builder
	quote := byte(0)
	flush := func() {
		if c := strings.TrimSpace(cur.String()); c != "" {
			out = append(out, c)
		}
		cur.Reset()
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case strings.IndexByte("|;&(", c) >= 0:
			flush()
			continue
		case c == ' ' && strings.HasPrefix(l[i:], " -- "):
			flush()
			i += 3
			continue
		}
		cur.WriteByte(c)
	}
	flush()
	return out
}

// docCommandLines returns every vigil command line of the ```sh blocks of
// README.md and docs/*.md (heredoc bodies left out, continued lines
// joined), split into words as a shell would, up to the first shell
// operator or comment. A word with a $ stands for a value and is kept as
// it is.
func docCommandLines(t *testing.T, onlyFile string) []docCommandLine {
	t.Helper()
	var out []docCommandLine
	for _, b := range docBlocks(t) {
		if b.lang != "sh" && b.lang != "bash" && b.lang != "console" {
			continue
		}
		if onlyFile != "" && b.file != onlyFile {
			continue
		}
		lines := strings.Split(strings.ReplaceAll(b.body, "\\\n", " "), "\n")
		heredoc := ""
		for i, l := range lines {
			if heredoc != "" {
				if strings.TrimSpace(l) == heredoc {
					heredoc = ""
				}
				continue
			}
			if m := regexp.MustCompile(`<<-?\s*'?"?([A-Za-z_]+)`).FindStringSubmatch(l); m != nil {
				heredoc = m[1]
			}
			l = strings.TrimPrefix(strings.TrimSpace(l), "$ ")
			if strings.HasPrefix(l, "#") {
				continue
			}
			for _, c := range shellCommands(l) {
				m := vigilInvocation.FindStringSubmatch(c)
				if m == nil {
					continue
				}
				words, ok := shellSplit(m[1])
				if !ok {
					t.Errorf("%s:%d: cannot split %q", b.file, b.line+i, l)
					continue
				}
				out = append(out, docCommandLine{where: fmt.Sprintf("%s:%d", b.file, b.line+i), args: words})
			}
		}
	}
	return out
}

// shellSplit splits s into words as sh would (single and double quotes,
// backslashes), stopping at an unquoted shell operator (| & ; < > ) or a
// comment.
func shellSplit(s string) ([]string, bool) {
	var words []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case strings.IndexByte("|&;<>)", c) >= 0 || c == '#' && !in:
			if in {
				words = append(words, cur.String())
			}
			return words, true
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, false
	}
	if in {
		words = append(words, cur.String())
	}
	return words, true
}

// parseOnly runs a vigil command line through the command-line parser with
// every command's action replaced, so nothing runs: it returns the usage
// error of an unknown command or flag, a bad flag value or a flag after
// the arguments.
func parseOnly(args []string) (stderr string, code int) {
	app := newApp()
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			if len(c.Subcommands) == 0 {
				c.Action = func(*cli.Context) error { return nil }
			}
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	var out, errOut clientBuffer
	app.Writer, app.ErrWriter = &out, &errOut
	app.ExitErrHandler = func(*cli.Context, error) {}
	err := app.Run(append([]string{"vigil"}, args...))
	if err == nil {
		return "", 0
	}
	code = 1
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	return err.Error(), code
}

// TestDocCommandLinesParse: every vigil command line of README.md and
// docs/*.md is one the command line accepts: known commands and flags,
// flags before arguments, values of the right kind.
func TestDocCommandLinesParse(t *testing.T) {
	lines := docCommandLines(t, "")
	if len(lines) < 40 {
		t.Fatalf("found only %d vigil command lines: the parsing is broken", len(lines))
	}
	for _, l := range lines {
		if len(l.args) == 0 {
			continue // "vigil" named in prose inside a block
		}
		if msg, code := parseOnly(l.args); code != 0 {
			t.Errorf("%s: vigil %s: %s", l.where, strings.Join(l.args, " "), msg)
		}
	}
}

// TestDocTranscripts runs every transcript of README.md and docs/*.md, a
// fenced block whose first line is "$ vigil ARGS" and whose other lines
// are what vigil prints (stdout, then stderr), and compares.
func TestDocTranscripts(t *testing.T) {
	n := 0
	for _, b := range docBlocks(t) {
		cmdLine, want, ok := strings.Cut(b.body, "\n")
		if !ok || !strings.HasPrefix(cmdLine, "$ vigil ") {
			continue
		}
		n++
		args, ok := shellSplit(strings.TrimPrefix(cmdLine, "$ vigil "))
		if !ok {
			t.Errorf("%s:%d: cannot split %q", b.file, b.line, cmdLine)
			continue
		}
		stdout, stderr, _ := runVigil(t, args...)
		if got := stdout + stderr; got != want {
			t.Errorf("%s:%d: %s prints:\n%s\nthe docs say:\n%s", b.file, b.line, cmdLine, got, want)
		}
	}
	if n == 0 {
		t.Fatal("no transcript found")
	}
}

// TestMigratingFromSerf checks docs/migrating-from-serf.md against the
// command line: every vigil command in its text and tables parses, and
// every serf agent flag its table names is one vigil agent knows, as its
// own name, another name of one, or a serf flag it answers with the vigil
// flags to use.
func TestMigratingFromSerf(t *testing.T) {
	b, err := os.ReadFile("../../docs/migrating-from-serf.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	spans := regexp.MustCompile("`(vigil [^`]*)`").FindAllStringSubmatch(doc, -1)
	n := 0
	for _, s := range spans {
		args, ok := shellSplit(strings.TrimPrefix(s[1], "vigil "))
		if !ok || len(args) == 0 {
			continue
		}
		if len(args) == 1 && !strings.HasPrefix(args[0], "-") && (newApp().Command(args[0]) == nil) {
			continue // prose: "vigil agents"
		}
		n++
		if msg, code := parseOnly(args); code != 0 {
			t.Errorf("`%s`: %s", s[1], msg)
		}
	}
	if n < 20 {
		t.Errorf("checked only %d vigil commands", n)
	}

	known := map[string]bool{}
	for _, f := range agentCommand().Flags {
		for _, name := range f.Names() {
			known[name] = true
		}
	}
	_, table, ok := strings.Cut(doc, "| `serf agent` | `vigil agent` | Notes |")
	if !ok {
		t.Fatal("no table of serf agent flags")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	flags := 0
	for _, row := range strings.Split(table, "\n")[2:] {
		first := strings.Split(row, "|")[1]
		for _, f := range regexp.MustCompile("-([a-z][a-z-]*)").FindAllStringSubmatch(first, -1) {
			flags++
			if !known[f[1]] {
				t.Errorf("vigil agent does not know serf's -%s (row %s)", f[1], row)
			}
		}
	}
	if flags < 25 {
		t.Errorf("checked only %d serf flags", flags)
	}
}

// TestMigratingFromConsul: every `vigil ...` command of
// docs/migrating-from-consul.md, in prose and tables, parses.
func TestMigratingFromConsul(t *testing.T) {
	b, err := os.ReadFile("../../docs/migrating-from-consul.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range regexp.MustCompile("`(vigil [^`]*)`").FindAllStringSubmatch(string(b), -1) {
		args, ok := shellSplit(strings.TrimPrefix(s[1], "vigil "))
		if !ok || len(args) == 0 || (len(args) == 1 && !strings.HasPrefix(args[0], "-") && newApp().Command(args[0]) == nil) {
			continue
		}
		n++
		if msg, code := parseOnly(args); code != 0 {
			t.Errorf("`%s`: %s", s[1], msg)
		}
	}
	if n < 10 {
		t.Errorf("checked only %d vigil commands", n)
	}
}

// TestDocCommandSpansParse: every `vigil ...` command written inline in
// README.md and docs/*.md parses, prose and tables included. Notation is
// read as a reader would: `vigil tags set|unset` is both commands, `vigil
// COMMAND -h` (a placeholder) and a command group named alone (`vigil
// keys`) are not commands to check.
func TestDocCommandSpansParse(t *testing.T) {
	files, _ := filepath.Glob("../../docs/*.md")
	files = append([]string{"../../README.md"}, files...)
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range regexp.MustCompile("`(vigil [^`]*)`").FindAllStringSubmatch(string(b), -1) {
			args, ok := shellSplit(strings.TrimPrefix(strings.ReplaceAll(s[1], `\|`, "|"), "vigil "))
			if !ok || len(args) == 0 || args[0] == strings.ToUpper(args[0]) && !strings.HasPrefix(args[0], "-") {
				continue
			}
			if len(args) == 1 && !strings.HasPrefix(args[0], "-") {
				if c := newApp().Command(args[0]); c == nil || len(c.Subcommands) > 0 {
					continue // prose ("vigil agents"), or a group named alone
				}
			}
			variants := [][]string{args}
			for i, a := range args {
				if strings.Contains(a, "|") && !strings.Contains(a, "=") {
					variants = nil
					for _, alt := range strings.Split(a, "|") {
						v := append([]string(nil), args...)
						v[i] = alt
						variants = append(variants, v)
					}
					break
				}
			}
			for _, v := range variants {
				n++
				if msg, code := parseOnly(v); code != 0 {
					t.Errorf("%s: `%s`: %s", filepath.Base(f), s[1], strings.TrimSpace(msg))
				}
			}
		}
	}
	if n < 100 {
		t.Errorf("checked only %d inline vigil commands", n)
	}
}
