package main

import "github.com/urfave/cli/v2"

func agentCommand() *cli.Command {
	return &cli.Command{Name: "agent", Usage: "run the agent"}
}
