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
	app := &cli.App{
		Name:                   "vigil",
		Usage:                  "gossip-based cluster membership, health and failover sidecar",
		Version:                version,
		HideVersion:            true,
		UseShortOptionHandling: false,
		// -hook specs hold commas (member-join,member-failed=...): a
		// repeatable flag takes each value whole.
		DisableSliceFlagSeparator: true,
		Commands:                  append([]*cli.Command{agentCommand(), validateCommand(), keygenCommand()}, clientCommands()...),
	}
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
