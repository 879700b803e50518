package main

import (
	"fmt"
	"io"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	"github.com/vigil-agent/vigil/events/failover"
	vigilhttp "github.com/vigil-agent/vigil/http"
)

func failoverCommand() *cli.Command {
	return &cli.Command{
		Name:  "failover",
		Usage: "show the failover guards, or release the mass-failure brake",
		UsageText: `vigil failover status|release [flags]

Example:
   vigil failover status`,
		Subcommands: []*cli.Command{
			{
				Name:      "status",
				Usage:     "show the brake, damped members, quorum and pending failovers",
				UsageText: "vigil failover status [-format table|json] [-http-addr ADDR]\n\nExample:\n   vigil failover status -format json",
				Flags:     []cli.Flag{formatFlag(), httpAddrFlag()},
				Action: func(cCtx *cli.Context) error {
					return getAndPrint(cCtx, "/v1/failover", nil, func(w io.Writer, st failover.Status) error {
						fmt.Fprintf(w, "brake engaged: %v\nquorum: %v\n", st.Brake, st.Quorum)
						for name, until := range st.Damped {
							fmt.Fprintf(w, "damped: %s until %s\n", safeText(name), until.Format("15:04:05"))
						}
						rows := make([][]string, len(st.Pending))
						for i, p := range st.Pending {
							rows[i] = []string{p.Hook, p.Key, p.State, p.Runner, p.Reason}
						}
						if len(rows) == 0 {
							_, err := fmt.Fprintln(w, "no pending failovers")
							return err
						}
						return writeTable(w, []string{"HOOK", "KEY", "STATE", "RUNNER", "REASON"}, rows)
					})
				},
			},
			{
				Name:      "release",
				Usage:     "release the mass-failure brake: held failovers run if their failure still holds",
				UsageText: "vigil failover release [-format text|json] [-http-addr ADDR]\n\nExample:\n   vigil failover release",
				Flags:     []cli.Flag{textFormatFlag(), httpAddrFlag()},
				Action: func(cCtx *cli.Context) error {
					if err := checkFormat(cCtx, "text", "json"); err != nil {
						return err
					}
					c, err := newAPIClient(cCtx)
					if err != nil {
						return err
					}
					return callAndPrint(cCtx, c, "POST", "/v1/failover/release", nil, func(w io.Writer, resp vigilhttp.ReleaseResponse) error {
						msg := "The brake was not engaged; nothing to release."
						if resp.Released {
							msg = "Brake released: held failovers are examined again."
						}
						_, err := fmt.Fprintln(w, msg)
						return err
					})
				},
			},
		},
	}
}
