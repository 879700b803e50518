// Command vigil is the vigil agent and its client commands.
//
//	vigil agent -dev            run a single-node agent for trying things out
//	vigil members               list the cluster's members
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run runs the vigil command line args (args[0] is the program) and
// returns its exit status: 0, 1 for a failure, 2 for a usage or
// configuration error. Errors go to stderr as one "vigil: ..." message.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp()
	app.Writer, app.ErrWriter = stdout, stderr
	app.Metadata = map[string]any{"argv": args}
	// Exit statuses are decided here, not by urfave/cli calling os.Exit.
	app.ExitErrHandler = func(*cli.Context, error) {}
	err := app.Run(args)
	if err == nil {
		return 0
	}
	code := 1
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	if msg := err.Error(); msg != "" {
		if !strings.HasPrefix(msg, "vigil:") {
			msg = "vigil: " + msg
		}
		fmt.Fprintln(stderr, msg)
	}
	return code
}

// newApp returns the vigil command line: the agent, its tools and the
// client commands.
func newApp() *cli.App {
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print vigil's version"}
	cli.VersionPrinter = func(cCtx *cli.Context) { fmt.Fprintf(cCtx.App.Writer, "vigil %s\n", cCtx.App.Version) }
	app := &cli.App{
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
		HideVersion:            false,
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
	applyConventions(app)
	return app
}
