package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	vigilhttp "github.com/vigil-agent/vigil/http"
)

func reloadCommand() *cli.Command {
	return &cli.Command{
		Name:  "reload",
		Usage: "make the agent re-read its configuration (like SIGHUP)",
		UsageText: `vigil reload [-format text|json] [-http-addr ADDR]

Example:
   vigil reload     # after editing /etc/vigil/vigil.yaml`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "format", Usage: "output `FORMAT`: text or json", Value: "text"}, httpAddrFlag()},
		Action: func(cCtx *cli.Context) error {
			c, err := newAPIClient(cCtx)
			if err != nil {
				return err
			}
			var res vigilhttp.ReloadResult
			if err := c.call(cCtx.Context, "POST", "/v1/reload", nil, nil, &res); err != nil {
				return err
			}
			w := cCtx.App.Writer
			if cCtx.String("format") == "json" {
				return printJSONValue(w, res)
			}
			fmt.Fprintln(w, "Configuration reloaded.")
			for _, l := range []struct {
				what  string
				names []string
			}{{"hooks added", res.HooksAdded}, {"hooks changed", res.HooksChanged}, {"hooks removed", res.HooksRemoved}} {
				if len(l.names) > 0 {
					fmt.Fprintf(w, "  %s: %s\n", l.what, safeText(strings.Join(l.names, ", ")))
				}
			}
			if res.ChecksChanged {
				fmt.Fprintln(w, "  checks restarted")
			}
			if res.LogLevel != "" {
				fmt.Fprintf(w, "  log level: %s\n", res.LogLevel)
			}
			if len(res.NeedsRestart) > 0 {
				fmt.Fprintf(w, "  changed but needing a restart: %s\n", safeText(strings.Join(res.NeedsRestart, ", ")))
			}
			return nil
		},
	}
}

// printJSONValue writes v as indented JSON.
func printJSONValue(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return printIndented(w, b)
}
