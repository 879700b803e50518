// Command vigil is the vigil agent and its client commands.
//
//	vigil agent -dev            run a single-node agent for trying things out
//	vigil members               list the cluster's members
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	app := newApp()
	if err := app.Run(os.Args); err != nil {
		code := 1
		if ec, ok := err.(cli.ExitCoder); ok {
			code = ec.ExitCode()
		}
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "vigil:", msg)
		}
		os.Exit(code)
	}
}

// newApp returns the vigil command line: the agent, its tools and the
// client commands.
func newApp() *cli.App {
	return &cli.App{
		Name:  "vigil",
		Usage: "gossip-based cluster membership, health and failover sidecar",
		UsageText: `vigil COMMAND [flags] [arguments]

Examples:
   vigil agent -dev                       # a single-node agent to try things out
   vigil agent -config /etc/vigil/vigil.yaml -join 10.0.0.4:7946
   vigil members -status alive            # ask the local agent
   vigil pick web                         # one passing instance of web, as ADDR:PORT
   source <(vigil completion bash)        # complete commands and flags in bash

"vigil COMMAND -h" shows a command's flags and an example.`,
		Version:                version,
		HideVersion:            true,
		UseShortOptionHandling: false,
		// Tab completion through --generate-bash-completion; see vigil
		// completion bash.
		EnableBashCompletion: true,
		// -hook specs hold commas (member-join,member-failed=...): a
		// repeatable flag takes each value whole.
		DisableSliceFlagSeparator: true,
		Commands: append([]*cli.Command{agentCommand(), validateCommand(), keygenCommand(), completionCommand()},
			clientCommands()...),
	}
}
