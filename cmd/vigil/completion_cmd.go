package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
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

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script",
		ArgsUsage: "bash",
		UsageText: `vigil completion bash

Prints a bash script that completes vigil's commands and flags. Load it in
the current shell, or install it for every shell.

Example:
   source <(vigil completion bash)
   vigil completion bash | sudo tee /etc/bash_completion.d/vigil`,
		Action: func(cCtx *cli.Context) error {
			if cCtx.NArg() != 1 || cCtx.Args().First() != "bash" {
				return usageError("completion takes the shell's name: bash (got %q)", cCtx.Args().Slice())
			}
			_, err := fmt.Fprint(cCtx.App.Writer, bashCompletion)
			return err
		},
	}
}
