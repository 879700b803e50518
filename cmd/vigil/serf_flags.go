package main

import "github.com/urfave/cli/v2"

// serfFlagAnswer answers a serf flag that a vigil command does not have;
// "" when name is not one of them.
func serfFlagAnswer(cCtx *cli.Context, name string) string { return "" }

// serfCommandAnswer answers a serf command vigil does not have; "" when
// name is not one of them.
func serfCommandAnswer(name string) string { return "" }
