package cli

// vigil's fork: the default help templates of template.go written out as
// Go code, so that the package does not execute text/template. A binary
// that executes templates makes the linker keep every exported method of
// every type that can reach an interface (text/template looks methods up
// by name at run time); without it vigil's binary is about 3 MB smaller.
// Each function below is the template of the same name, output for output.

import (
	"errors"
	"fmt"
	"strings"
)

// helpView is what the default templates read of an *App or a *Command.
type helpView struct {
	HelpName, Usage, UsageText, ArgsUsage string
	Description, Category                 string
	Version, Copyright                    string
	Args, HideVersion, HasCommands        bool
	Authors                               []*Author
	VisibleFlags                          []Flag
	VisibleCommands                       []*Command
	// VisibleCategories is called only where the templates read it
	// (under {{if .VisibleCommands}}): a command's categories are nil
	// until it has run.
	VisibleCategories     func() []CommandCategory
	VisibleFlagCategories []VisibleFlagCategory
	// noCategories is a command whose categories are nil (one that has
	// not run, as in "help CMD" of a command with subcommands): there
	// text/template's call of VisibleCategories panics, and the template
	// stops with an error; the help printed is what came before.
	noCategories bool
}

func appView(a *App) *helpView {
	return &helpView{
		HelpName: a.HelpName, Usage: a.Usage, UsageText: a.UsageText, ArgsUsage: a.ArgsUsage,
		Description: a.Description, Version: a.Version, Copyright: a.Copyright,
		Args: a.Args, HideVersion: a.HideVersion, HasCommands: len(a.Commands) > 0,
		Authors: a.Authors, VisibleFlags: a.VisibleFlags(), VisibleCommands: a.VisibleCommands(),
		VisibleCategories: a.VisibleCategories, VisibleFlagCategories: a.VisibleFlagCategories(),
	}
}

func commandView(c *Command) *helpView {
	return &helpView{
		HelpName: c.HelpName, Usage: c.Usage, UsageText: c.UsageText, ArgsUsage: c.ArgsUsage,
		Description: c.Description, Category: c.Category, Args: c.Args,
		HasCommands: len(c.Subcommands) > 0, VisibleFlags: c.VisibleFlags(),
		VisibleCommands: c.VisibleCommands(), VisibleCategories: c.VisibleCategories, noCategories: c.categories == nil,
		VisibleFlagCategories: c.VisibleFlagCategories(),
	}
}

// helpRenderer writes the default templates with the wrap width of
// printHelpCustom.
type helpRenderer struct {
	b      strings.Builder
	wrapAt int
}

func (r *helpRenderer) s(parts ...string) {
	for _, p := range parts {
		r.b.WriteString(p)
	}
}

func (r *helpRenderer) wrap(input string, offset int) string { return wrap(input, offset, r.wrapAt) }

// helpName is helpNameTemplate.
func (r *helpRenderer) helpName(v *helpView) {
	off := offset(v.HelpName, 6)
	r.s(r.wrap(v.HelpName, 3))
	if v.Usage != "" {
		r.s(" - ", r.wrap(v.Usage, off))
	}
}

// usage is usageTemplate.
func (r *helpRenderer) usage(v *helpView) {
	if v.UsageText != "" {
		r.s(r.wrap(v.UsageText, 3))
		return
	}
	r.s(v.HelpName)
	if len(v.VisibleFlags) > 0 {
		r.s(" [command options]")
	}
	r.argsUsage(v)
}

func (r *helpRenderer) argsUsage(v *helpView) {
	if v.ArgsUsage != "" {
		r.s(" ", v.ArgsUsage)
	} else if v.Args {
		r.s(" [arguments...]")
	}
}

// authors is authorsTemplate.
func (r *helpRenderer) authors(v *helpView) {
	if n := len(v.Authors); n != 0 && n != 1 {
		r.s("S")
	}
	r.s(":\n   ")
	for i, a := range v.Authors {
		if i > 0 {
			r.s("\n   ")
		}
		r.s(fmt.Sprint(a))
	}
}

// visibleCommands is visibleCommandTemplate.
func (r *helpRenderer) visibleCommands(cmds []*Command) {
	cv := offsetCommands(cmds, 5)
	for _, c := range cmds {
		s := strings.Join(c.Names(), ", ")
		r.s("\n   ", s, indent(subtract(cv, offset(s, 3)), ""), r.wrap(c.Usage, cv))
	}
}

// commandCategories is visibleCommandCategoryTemplate.
func (r *helpRenderer) commandCategories(v *helpView) {
	if v.noCategories {
		panic(errStopHelp)
	}
	for _, cat := range v.VisibleCategories() {
		if cat.Name() == "" {
			r.visibleCommands(cat.VisibleCommands())
			continue
		}
		r.s("\n   ", cat.Name(), ":")
		for _, c := range cat.VisibleCommands() {
			r.s("\n     ", strings.Join(c.Names(), ", "), "\t", c.Usage)
		}
	}
}

// flagCategories is visibleFlagCategoryTemplate.
func (r *helpRenderer) flagCategories(v *helpView) {
	for _, cat := range v.VisibleFlagCategories {
		r.s("\n   ")
		if cat.Name() != "" {
			r.s(cat.Name(), "\n\n   ")
		}
		flags := cat.Flags()
		for i, f := range flags {
			if len(flags)-i == 1 {
				r.s(fmt.Sprint(f), "\n")
			} else {
				r.s(fmt.Sprint(f), "\n   ")
			}
		}
	}
}

// visibleFlags is visibleFlagTemplate.
func (r *helpRenderer) visibleFlags(v *helpView) {
	for _, f := range v.VisibleFlags {
		r.s("\n   ", r.wrap(f.String(), 6))
	}
}

// options is the OPTIONS (or GLOBAL OPTIONS) block of every template.
func (r *helpRenderer) options(v *helpView, title string) {
	if len(v.VisibleFlagCategories) > 0 {
		r.s("\n\n", title, ":")
		r.flagCategories(v)
	} else if len(v.VisibleFlags) > 0 {
		r.s("\n\n", title, ":")
		r.visibleFlags(v)
	}
}

// app is AppHelpTemplate.
func (r *helpRenderer) app(v *helpView) {
	r.s("NAME:\n   ")
	r.helpName(v)
	r.s("\n\nUSAGE:\n   ")
	if v.UsageText != "" {
		r.s(r.wrap(v.UsageText, 3))
	} else {
		r.s(v.HelpName, " ")
		if len(v.VisibleFlags) > 0 {
			r.s("[global options]")
		}
		if v.HasCommands {
			r.s(" command [command options]")
		}
		r.argsUsage(v)
	}
	if v.Version != "" && !v.HideVersion {
		r.s("\n\nVERSION:\n   ", v.Version)
	}
	if v.Description != "" {
		r.s("\n\nDESCRIPTION:\n   ", r.wrap(v.Description, 3))
	}
	if len(v.Authors) > 0 {
		r.s("\n\nAUTHOR")
		r.authors(v)
	}
	if len(v.VisibleCommands) > 0 {
		r.s("\n\nCOMMANDS:")
		r.commandCategories(v)
	}
	r.options(v, "GLOBAL OPTIONS")
	if v.Copyright != "" {
		r.s("\n\nCOPYRIGHT:\n   ", r.wrap(v.Copyright, 3))
	}
	r.s("\n")
}

// command is CommandHelpTemplate, and SubcommandHelpTemplate with sub.
func (r *helpRenderer) command(v *helpView, sub bool) {
	r.s("NAME:\n   ")
	r.helpName(v)
	r.s("\n\nUSAGE:\n   ")
	r.usage(v)
	if v.Category != "" {
		r.s("\n\nCATEGORY:\n   ", v.Category)
	}
	if v.Description != "" {
		r.s("\n\nDESCRIPTION:\n   ", r.wrap(v.Description, 3))
	}
	if sub && len(v.VisibleCommands) > 0 {
		r.s("\n\nCOMMANDS:")
		r.commandCategories(v)
	}
	r.options(v, "OPTIONS")
	r.s("\n")
}

// renderHelp writes the help of data (an *App or a *Command) as the
// default template templ would. A template other than the three defaults
// is not executed: the default layout of data's kind is written instead
// (vigil sets none).
//
// complete is false when the template would have stopped with an error
// (see helpView.noCategories): text is what it wrote until then.
func renderHelp(templ string, data interface{}, wrapAt int) (text string, complete bool, err error) {
	r := &helpRenderer{wrapAt: wrapAt}
	defer func() {
		if p := recover(); p != nil {
			if p != errStopHelp {
				panic(p)
			}
			text, complete, err = r.b.String(), false, nil
		}
	}()
	switch d := data.(type) {
	case *App:
		r.app(appView(d))
	case *Command:
		switch templ {
		case AppHelpTemplate:
			r.app(commandView(d))
		default:
			r.command(commandView(d), templ == SubcommandHelpTemplate)
		}
	default:
		return "", false, fmt.Errorf("help of a %T: only *App and *Command are supported", data)
	}
	return r.b.String(), true, nil
}

// errStopHelp stops a rendering where the template's execution fails.
var errStopHelp = errors.New("help template stopped")
