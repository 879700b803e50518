package main

import (
	"fmt"
	"io"
	"strings"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	vigilhttp "github.com/vigil-agent/vigil/http"
)

func forceLeaveCommand() *cli.Command {
	return &cli.Command{
		Name:      "force-leave",
		Usage:     "mark a failed member as left, for a member that will never come back",
		ArgsUsage: "NAME",
		UsageText: `vigil force-leave [-prune] [-format text|json] [-http-addr ADDR] NAME

Peers stop trying to reconnect to the member and report member-leave; it
shows as left instead of failed. With -prune it is also erased from every
member list at once instead of after 24 h. Only a failed member can be
forced out: an alive one is refused (stop it with vigil leave on its host).

Example:
   vigil force-leave -prune db-3`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "prune", Usage: "also erase the member from every member list now"},
			textFormatFlag(),
			httpAddrFlag(),
		},
		Action: func(cCtx *cli.Context) error {
			if cCtx.NArg() != 1 {
				return usageError("force-leave takes one member NAME (got %q; usage: vigil force-leave [-prune] NAME)", cCtx.Args().Slice())
			}
			name := cCtx.Args().First()
			if strings.HasPrefix(name, "-") {
				return usageError("force-leave: %q looks like a flag; flags go before the name", name)
			}
			if err := checkFormat(cCtx, "text", "json"); err != nil {
				return err
			}
			c, err := newAPIClient(cCtx)
			if err != nil {
				return err
			}
			req := vigilhttp.ForceLeaveRequest{Name: name, Prune: cCtx.Bool("prune")}
			return callAndPrint(cCtx, c, "POST", "/v1/force-leave", req, func(w io.Writer, resp vigilhttp.ForceLeaveResponse) error {
				msg := fmt.Sprintf("Member %s is forced out of the cluster: it shows as left", safeText(resp.Name))
				if resp.Pruned {
					msg = fmt.Sprintf("Member %s is forced out of the cluster and erased from the member lists", safeText(resp.Name))
				}
				_, err := fmt.Fprintln(w, msg)
				return err
			})
		},
	}
}
