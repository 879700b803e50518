package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"text/tabwriter"
	"text/template"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"
)

// TestHelpMatchesUpstreamTemplates runs every command's help (-h and
// help CMD, and the app's) and checks that vigil's copy of urfave/cli
// (third_party/urfave-cli, whose help is Go code so that the binary does
// not execute text/template) writes byte for byte what urfave/cli v2.27.7
// writes by executing its templates: upstreamHelp below is v2.27.7's
// printHelpCustom with its template functions, run on the same data.
func TestHelpMatchesUpstreamTemplates(t *testing.T) {
	saved := cli.HelpPrinter
	t.Cleanup(func() { cli.HelpPrinter = saved })
	var shown int
	var mismatch []string
	var current string
	cli.HelpPrinter = func(w io.Writer, templ string, data interface{}) {
		var want, got bytes.Buffer
		upstreamHelp(&want, templ, data)
		cli.HelpPrinterCustom(&got, templ, data, nil)
		shown++
		if want.String() != got.String() {
			mismatch = append(mismatch, current+":\n--- urfave/cli v2.27.7:\n"+want.String()+"\n--- vigil's copy:\n"+got.String())
		}
		_, _ = w.Write(got.Bytes())
	}
	var paths [][]string
	var walk func(prefix []string, cmds []*cli.Command)
	walk = func(prefix []string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			p := append(append([]string(nil), prefix...), c.Name)
			paths = append(paths, p)
			walk(p, c.Subcommands)
		}
	}
	walk(nil, newApp().Commands)
	if len(paths) < 20 {
		t.Fatalf("found %d command paths, want every command of vigil (more than 20)", len(paths))
	}
	runs := [][]string{{"-h"}, {"help"}}
	for _, p := range paths {
		runs = append(runs, append(append([]string(nil), p...), "-h"), append([]string{"help"}, p...))
	}
	for _, args := range runs {
		current = "vigil " + strings.Join(args, " ")
		var out bytes.Buffer
		run(append([]string{"vigil"}, args...), &out, &out)
	}
	t.Logf("%d command lines", len(runs))
	if shown < len(runs) {
		t.Errorf("help printed %d times for %d command lines", shown, len(runs))
	}
	for _, m := range mismatch {
		t.Errorf("%s", m)
	}
}

// upstreamHelp is urfave/cli v2.27.7's printHelpCustom (help.go) without
// custom functions.
func upstreamHelp(out io.Writer, templ string, data interface{}) {
	const maxLineLength = 10000
	funcMap := template.FuncMap{
		"join":           strings.Join,
		"subtract":       upSubtract,
		"indent":         upIndent,
		"nindent":        upNindent,
		"trim":           strings.TrimSpace,
		"wrap":           func(input string, offset int) string { return upWrap(input, offset, maxLineLength) },
		"offset":         upOffset,
		"offsetCommands": upOffsetCommands,
	}
	w := tabwriter.NewWriter(out, 1, 8, 2, ' ', 0)
	t := template.Must(template.New("help").Funcs(funcMap).Parse(templ))
	templates := map[string]string{
		"visibleGlobalFlagCategoryTemplate": strings.Replace(upstreamTemplates["visibleFlagCategoryTemplate"], "OPTIONS", "GLOBAL OPTIONS", -1),
	}
	for name, value := range upstreamTemplates {
		templates[name] = value
	}
	for name, value := range templates {
		template.Must(t.New(name).Parse(value))
	}
	if err := t.Execute(w, data); err != nil {
		return // as upstream: what the tab writer passed on stays, the rest is not flushed
	}
	_ = w.Flush()
}

// upstreamTemplates are urfave/cli v2.27.7's unexported help templates
// (template.go).
var upstreamTemplates = map[string]string{
	"helpNameTemplate":    `{{$v := offset .HelpName 6}}{{wrap .HelpName 3}}{{if .Usage}} - {{wrap .Usage $v}}{{end}}`,
	"usageTemplate":       `{{if .UsageText}}{{wrap .UsageText 3}}{{else}}{{.HelpName}}{{if .VisibleFlags}} [command options]{{end}}{{if .ArgsUsage}} {{.ArgsUsage}}{{else}}{{if .Args}} [arguments...]{{end}}{{end}}{{end}}`,
	"descriptionTemplate": `{{wrap .Description 3}}`,
	"authorsTemplate": `{{with $length := len .Authors}}{{if ne 1 $length}}S{{end}}{{end}}:
   {{range $index, $author := .Authors}}{{if $index}}
   {{end}}{{$author}}{{end}}`,
	"visibleCommandTemplate": `{{ $cv := offsetCommands .VisibleCommands 5}}{{range .VisibleCommands}}
   {{$s := join .Names ", "}}{{$s}}{{ $sp := subtract $cv (offset $s 3) }}{{ indent $sp ""}}{{wrap .Usage $cv}}{{end}}`,
	"visibleCommandCategoryTemplate": `{{range .VisibleCategories}}{{if .Name}}
   {{.Name}}:{{range .VisibleCommands}}
     {{join .Names ", "}}{{"\t"}}{{.Usage}}{{end}}{{else}}{{template "visibleCommandTemplate" .}}{{end}}{{end}}`,
	"visibleFlagCategoryTemplate": `{{range .VisibleFlagCategories}}
   {{if .Name}}{{.Name}}

   {{end}}{{$flglen := len .Flags}}{{range $i, $e := .Flags}}{{if eq (subtract $flglen $i) 1}}{{$e}}
{{else}}{{$e}}
   {{end}}{{end}}{{end}}`,
	"visibleFlagTemplate": `{{range $i, $e := .VisibleFlags}}
   {{wrap $e.String 6}}{{end}}`,
	"versionTemplate": `{{if .Version}}{{if not .HideVersion}}

VERSION:
   {{.Version}}{{end}}{{end}}`,
	"copyrightTemplate": `{{wrap .Copyright 3}}`,
}

// urfave/cli v2.27.7's template functions (help.go).

func upSubtract(a, b int) int {
	return a - b
}

func upIndent(spaces int, v string) string {
	pad := strings.Repeat(" ", spaces)
	return pad + strings.Replace(v, "\n", "\n"+pad, -1)
}

func upNindent(spaces int, v string) string {
	return "\n" + upIndent(spaces, v)
}

func upWrap(input string, offset int, wrapAt int) string {
	var ss []string

	lines := strings.Split(input, "\n")

	padding := strings.Repeat(" ", offset)

	for i, line := range lines {
		if line == "" {
			ss = append(ss, line)
		} else {
			wrapped := upWrapLine(line, offset, wrapAt, padding)
			if i == 0 {
				ss = append(ss, wrapped)
			} else {
				ss = append(ss, padding+wrapped)
			}

		}
	}

	return strings.Join(ss, "\n")
}

func upWrapLine(input string, offset int, wrapAt int, padding string) string {
	if wrapAt <= offset || len(input) <= wrapAt-offset {
		return input
	}

	lineWidth := wrapAt - offset
	words := strings.Fields(input)
	if len(words) == 0 {
		return input
	}

	wrapped := words[0]
	spaceLeft := lineWidth - len(wrapped)
	for _, word := range words[1:] {
		if len(word)+1 > spaceLeft {
			wrapped += "\n" + padding + word
			spaceLeft = lineWidth - len(word)
		} else {
			wrapped += " " + word
			spaceLeft -= 1 + len(word)
		}
	}

	return wrapped
}

func upOffset(input string, fixed int) int {
	return len(input) + fixed
}

func upOffsetCommands(cmds []*cli.Command, fixed int) int {
	var max int = 0
	for _, cmd := range cmds {
		s := strings.Join(cmd.Names(), ", ")
		if len(s) > max {
			max = len(s)
		}
	}
	return max + fixed
}
