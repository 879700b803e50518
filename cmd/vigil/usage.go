package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"
)

// exitUsage is the exit status of a command-line mistake: an unknown
// command or flag, a bad flag value, a missing argument. The same as a
// configuration error, so a unit's RestartPreventExitStatus=2 catches a
// mistyped ExecStart too.
const exitUsage = 2

// usageErr is a command-line mistake: one line on stderr (and a hint to
// the command's help) and exit status 2.
type usageErr struct{ msg string }

// Error implements error.
func (e *usageErr) Error() string { return e.msg }

// ExitCode implements cli.ExitCoder.
func (e *usageErr) ExitCode() int { return exitUsage }

// hinted reports whether the message already ends with the help hint.
func (e *usageErr) hinted() bool { return strings.HasSuffix(e.msg, "for usage.") }

// usageError is a command-line mistake; the command's help hint is
// added when it is returned from a command's action.
func usageError(format string, args ...any) error {
	return &usageErr{msg: "vigil: " + fmt.Sprintf(format, args...)}
}

// usageErrorHint is usageError followed by where to read the command's
// usage: Run "vigil members -h" for usage.
func usageErrorHint(cCtx *cli.Context, format string, args ...any) error {
	return &usageErr{msg: "vigil: " + fmt.Sprintf(format, args...) + "\n" + helpHint(cCtx)}
}

// helpHint names the help of the command cCtx runs.
func helpHint(cCtx *cli.Context) string {
	return fmt.Sprintf("Run \"%s -h\" for usage.", commandPath(cCtx))
}

// commandPath is "vigil", "vigil members" or "vigil keys install".
func commandPath(cCtx *cli.Context) string {
	var names []string
	for _, c := range cCtx.Lineage() {
		if !isRoot(c) {
			names = append([]string{c.Command.Name}, names...)
		}
	}
	return strings.Join(append([]string{"vigil"}, names...), " ")
}

// isRoot reports whether cCtx runs the app itself, not one of its
// commands.
func isRoot(cCtx *cli.Context) bool {
	return cCtx.Command == nil || cCtx.Command.Name == "" || cCtx.Command.Name == cCtx.App.Name
}

// onUsageError answers a flag that did not parse (unknown, or a value of
// the wrong kind) with one line, a suggestion when one is close, and the
// help hint; the help itself is not printed.
func onUsageError(cCtx *cli.Context, err error, _ bool) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		if ans := serfFlagAnswer(cCtx, name); ans != "" {
			return usageErrorHint(cCtx, "%s", ans)
		}
		msg = fmt.Sprintf("unknown flag -%s", name)
		if s := suggest(name, flagNames(cCtx.Command)); s != "" {
			msg += fmt.Sprintf(" (did you mean -%s?)", s)
		}
	}
	return usageErrorHint(cCtx, "%s", msg)
}

// flagNames lists the names of a command's flags.
func flagNames(c *cli.Command) []string {
	var out []string
	if c == nil {
		return out
	}
	for _, f := range c.Flags {
		out = append(out, f.Names()...)
	}
	return out
}

// commandNames lists the names and aliases of commands.
func commandNames(cmds []*cli.Command) []string {
	var out []string
	for _, c := range cmds {
		if !c.Hidden {
			out = append(out, c.Names()...)
		}
	}
	return out
}

// unknownCommand is the Action of the app and of every command that only
// groups subcommands (keys, failover): without an argument it shows the
// help on stderr (nobody asked for it on stdout) and exits 2; with one, it
// names the unknown command and the closest known one.
func unknownCommand(cCtx *cli.Context) error {
	cmds := cCtx.App.Commands
	if !isRoot(cCtx) {
		cmds = cCtx.Command.Subcommands
	}
	if !cCtx.Args().Present() {
		w := cCtx.App.Writer
		cCtx.App.Writer = cCtx.App.ErrWriter
		if isRoot(cCtx) {
			_ = cli.ShowAppHelp(cCtx)
		} else {
			_ = cli.ShowSubcommandHelp(cCtx)
		}
		cCtx.App.Writer = w
		return usageError("%s needs a command", commandPath(cCtx))
	}
	name := cCtx.Args().First()
	if strings.HasPrefix(name, "-") {
		return usageErrorHint(cCtx, "unknown flag %s", name)
	}
	msg := fmt.Sprintf("unknown command %q for %q", name, commandPath(cCtx))
	if ans := serfCommandAnswer(name); ans != "" && isRoot(cCtx) {
		msg += ": " + ans
	} else if s := suggest(name, commandNames(cmds)); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return usageErrorHint(cCtx, "%s", msg)
}

// suggest returns the candidate closest to s by edit distance, when it is
// close enough to be a typo (at most a third of the length, at least 1,
// at most 3 edits), or one that s is a prefix of; else "".
func suggest(s string, candidates []string) string {
	best, bestD := "", 0
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		d := levenshtein(strings.ToLower(s), strings.ToLower(c))
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if len(s) < 3 {
		return "" // -v, -x: too short to guess from
	}
	limit := min(3, max(1, len(s)/3))
	if best != "" && bestD <= limit {
		return best
	}
	for _, c := range sorted {
		if strings.HasPrefix(c, s) {
			return c
		}
	}
	return ""
}

// levenshtein is the edit distance between a and b: insertions,
// deletions, substitutions and swaps of two neighbours (jion: join), over
// bytes (optimal string alignment).
func levenshtein(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// flagsAfterArgs refuses a command's flags given after its arguments
// (urfave/cli stops reading flags at the first argument, so they would be
// taken as arguments) with the command line to write instead. Arguments
// after "--" are never flags.
func flagsAfterArgs(cCtx *cli.Context) error {
	args := cCtx.Args().Slice()
	if len(args) == 0 || cCtx.Command == nil {
		return nil
	}
	takesValue := map[string]bool{}
	for _, f := range cCtx.Command.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, rest []string
	first := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		tv, known := takesValue[name]
		if !strings.HasPrefix(a, "-") || a == "-" || !known {
			rest = append(rest, a)
			continue
		}
		if first == "" {
			first = a
		}
		flags = append(flags, a)
		if tv && !hasValue && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if len(flags) == 0 {
		return nil
	}
	prefix := []string{commandPath(cCtx)}
	if argv, ok := cCtx.App.Metadata["argv"].([]string); ok && len(argv) >= len(args) {
		prefix = append([]string{"vigil"}, argv[1:len(argv)-len(args)]...)
	}
	fixed := append(append(prefix, flags...), rest...)
	for i, w := range fixed {
		fixed[i] = shellQuote(w)
	}
	return usageErrorHint(cCtx, "flag %s comes after the arguments: flags go before them: %s", first, strings.Join(fixed, " "))
}

// shellQuote quotes s for a shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// applyConventions sets the usage handling of every command: usage errors
// as one line and exit status 2, flags after arguments refused, unknown
// subcommands named.
func applyConventions(app *cli.App) {
	app.OnUsageError = onUsageError
	app.Action = unknownCommand
	var walk func(cmds []*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			c.OnUsageError = onUsageError
			if len(c.Subcommands) > 0 && c.Action == nil {
				c.Action = unknownCommand
			}
			if action := c.Action; action != nil {
				c.Action = func(cCtx *cli.Context) error {
					err := action(cCtx)
					var ue *usageErr
					if errors.As(err, &ue) && !ue.hinted() {
						return &usageErr{msg: ue.msg + "\n" + helpHint(cCtx)}
					}
					return err
				}
			}
			if c.Action != nil && len(c.Subcommands) == 0 {
				before := c.Before
				c.Before = func(cCtx *cli.Context) error {
					if err := flagsAfterArgs(cCtx); err != nil {
						return err
					}
					if before != nil {
						return before(cCtx)
					}
					return nil
				}
			}
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
}
