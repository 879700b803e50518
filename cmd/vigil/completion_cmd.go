package main

import (
	"fmt"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"
)

// bashCompletion completes vigil's commands and flags by asking vigil
// itself: urfave/cli answers --generate-bash-completion with the
// subcommands (or, after a dash, the flags) that fit, without running the
// command.
const bashCompletion = `# bash completion for vigil: source <(vigil completion bash)
_vigil_complete() {
  local cur="${COMP_WORDS[COMP_CWORD]}"
  local words=("${COMP_WORDS[@]:0:COMP_CWORD}")
  local opts
  if [[ "$cur" == -* ]]; then
    opts=$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${words[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
}
complete -o bashdefault -o default -F _vigil_complete vigil
`

// zshCompletion is urfave/cli's zsh script for vigil: like the bash one,
// it asks vigil itself for the commands or flags that fit.
const zshCompletion = `#compdef vigil
# zsh completion for vigil: source <(vigil completion zsh)

_vigil_complete() {
  local -a opts
  local cur
  cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}

compdef _vigil_complete vigil
`

// completionShells are the shells vigil completion writes a script for.
var completionShells = []string{"bash", "zsh", "fish"}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		UsageText: `vigil completion bash|zsh|fish

Prints a script that completes vigil's commands and flags. Load it in the
current shell, or install it for every shell.

Examples:
   source <(vigil completion bash)
   vigil completion bash | sudo tee /etc/bash_completion.d/vigil
   source <(vigil completion zsh)
   vigil completion zsh > "${fpath[1]}/_vigil"
   vigil completion fish > ~/.config/fish/completions/vigil.fish`,
		Action: func(cCtx *cli.Context) error {
			if cCtx.NArg() != 1 {
				return usageError("completion takes the shell's name: bash, zsh or fish (got %q)", cCtx.Args().Slice())
			}
			w := cCtx.App.Writer
			switch sh := cCtx.Args().First(); sh {
			case "bash":
				_, err := fmt.Fprint(w, bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(w, zshCompletion)
				return err
			case "fish":
				script, err := cCtx.App.ToFishCompletion()
				if err != nil {
					return fmt.Errorf("fish completion: %w", err)
				}
				_, err = fmt.Fprint(w, script)
				return err
			default:
				msg := fmt.Sprintf("completion: unknown shell %q: want bash, zsh or fish", sh)
				if s := suggest(sh, completionShells); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				return usageError("%s", msg)
			}
		},
	}
}
