package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/probes"
)

// healthCommands are the client commands of service health.
func healthCommands() []*cli.Command {
	return []*cli.Command{checksCommand(), healthCommand(), pickCommand(), maintenanceCommand(), failoverCommand()}
}

func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Usage: "output `FORMAT`: table or json", Value: "table"}
}

// writeTable writes an aligned table without trailing spaces. Every cell
// is shown through safeText: a newline, a tab or an escape sequence in a
// member's name, tag or check output can't add rows, shift columns or
// reach the terminal.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, cell := range r {
			cells[i] = safeText(cell)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var out strings.Builder
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line != "" {
			out.WriteString(strings.TrimRight(line, " \n") + "\n")
		}
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// getAndPrint fetches path and prints it as JSON or, through table, as a
// table of the decoded value.
func getAndPrint[T any](cCtx *cli.Context, path string, q url.Values, table func(io.Writer, T) error) error {
	format := cCtx.String("format")
	if format != "table" && format != "json" {
		return usageError("-format %q: want table or json", format)
	}
	c, err := newAPIClient(cCtx)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.call(cCtx.Context, "GET", path, q, nil, &raw); err != nil {
		return err
	}
	if format == "json" {
		return printIndented(cCtx.App.Writer, raw)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return cli.Exit(fmt.Sprintf("vigil: agent at %s sent a response vigil can't read: %v", c.addr, err), 1)
	}
	return table(cCtx.App.Writer, v)
}

func checksCommand() *cli.Command {
	return &cli.Command{
		Name:  "checks",
		Usage: "list this agent's health checks and their status",
		UsageText: `vigil checks [-format table|json] [-http-addr ADDR]

Example:
   vigil checks`,
		Flags: []cli.Flag{formatFlag(), httpAddrFlag()},
		Action: func(cCtx *cli.Context) error {
			return getAndPrint(cCtx, "/v1/checks", nil, func(w io.Writer, checks []probes.State) error {
				rows := make([][]string, len(checks))
				for i, c := range checks {
					rows[i] = []string{c.ID, c.Kind, string(c.Status), checkOutputCell(c.Output)}
				}
				return writeTable(w, []string{"ID", "KIND", "STATUS", "OUTPUT"}, rows)
			})
		},
	}
}

// maxCheckOutputCell is how much of a check's output the table shows:
// enough for an HTTP check's URL and status line or an exec check's error
// message; -format json has all of it.
const maxCheckOutputCell = 300

// checkOutputCell is a check's output on one table line: lines joined
// with spaces, cut at maxCheckOutputCell characters (never inside one),
// saying how much more -format json shows.
func checkOutputCell(output string) string {
	out := strings.Join(strings.Fields(output), " ")
	if utf8.RuneCountInString(out) <= maxCheckOutputCell {
		return out
	}
	cut := 0
	for i := range out {
		if cut == maxCheckOutputCell {
			return fmt.Sprintf("%s... (%d more bytes: -format json shows all)", out[:i], len(out)-i)
		}
		cut++
	}
	return out
}

func instanceRows(list []vigilhttp.Instance) [][]string {
	rows := make([][]string, len(list))
	for i, in := range list {
		rows[i] = []string{in.Node, net.JoinHostPort(in.Addr, strconv.Itoa(in.Port)), string(in.Health), string(in.Status), formatTags(in.Tags)}
	}
	return rows
}

var instanceHeader = []string{"NODE", "ADDRESS", "HEALTH", "STATUS", "TAGS"}

func healthCommand() *cli.Command {
	return &cli.Command{
		Name:      "health",
		Usage:     "list the instances of a service across the cluster with their health",
		ArgsUsage: "SERVICE",
		UsageText: `vigil health [-passing] [-format table|json] [-http-addr ADDR] SERVICE

Example:
   vigil health -passing web`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "passing", Usage: "only passing instances of alive members"}, formatFlag(), httpAddrFlag()},
		Action: func(cCtx *cli.Context) error {
			if cCtx.NArg() != 1 {
				return usageError("health takes one SERVICE name (got %q)", cCtx.Args().Slice())
			}
			var q url.Values
			if cCtx.Bool("passing") {
				q = url.Values{"passing": {""}}
			}
			return getAndPrint(cCtx, "/v1/health/service/"+url.PathEscape(cCtx.Args().First()), q, func(w io.Writer, list []vigilhttp.Instance) error {
				return writeTable(w, instanceHeader, instanceRows(list))
			})
		},
	}
}

func pickCommand() *cli.Command {
	return &cli.Command{
		Name:      "pick",
		Usage:     "print one passing instance of a service as ADDR:PORT",
		ArgsUsage: "SERVICE",
		UsageText: `vigil pick [-strategy random|round_robin|nearest] [-format addr|json] [-http-addr ADDR] SERVICE

Example:
   curl "http://$(vigil pick web)/"`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "strategy", Usage: "`STRATEGY`: random, round_robin or nearest", Value: "random"},
			&cli.StringFlag{Name: "format", Usage: "output `FORMAT`: addr (ADDR:PORT) or json", Value: "addr"},
			httpAddrFlag(),
		},
		Action: func(cCtx *cli.Context) error {
			if cCtx.NArg() != 1 {
				return usageError("pick takes one SERVICE name (got %q)", cCtx.Args().Slice())
			}
			format := cCtx.String("format")
			if format != "addr" && format != "json" {
				return usageError("-format %q: want addr or json", format)
			}
			c, err := newAPIClient(cCtx)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			q := url.Values{"strategy": {cCtx.String("strategy")}}
			if err := c.call(cCtx.Context, "GET", "/v1/pick/"+url.PathEscape(cCtx.Args().First()), q, nil, &raw); err != nil {
				return err
			}
			if format == "json" {
				return printIndented(cCtx.App.Writer, raw)
			}
			var in vigilhttp.Instance
			if err := json.Unmarshal(raw, &in); err != nil {
				return cli.Exit(fmt.Sprintf("vigil: agent at %s sent a response vigil can't read: %v", c.addr, err), 1)
			}
			_, err = fmt.Fprintln(cCtx.App.Writer, safeText(net.JoinHostPort(in.Addr, strconv.Itoa(in.Port))))
			return err
		},
	}
}

func maintenanceCommand() *cli.Command {
	return &cli.Command{
		Name:      "maintenance",
		Usage:     "drain this instance (on) so peers stop picking it, or restore it (off)",
		ArgsUsage: "on|off",
		UsageText: `vigil maintenance [-reason TEXT] [-format text|json] [-http-addr ADDR] on|off

Example:
   vigil maintenance -reason "kernel upgrade" on`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "reason", Usage: "why, shown in /v1/self and the logs"}, textFormatFlag(), httpAddrFlag()},
		Action: func(cCtx *cli.Context) error {
			arg := cCtx.Args().First()
			if cCtx.NArg() != 1 || (arg != "on" && arg != "off") {
				return usageError("maintenance takes on or off (got %q)", cCtx.Args().Slice())
			}
			if err := checkFormat(cCtx, "text", "json"); err != nil {
				return err
			}
			c, err := newAPIClient(cCtx)
			if err != nil {
				return err
			}
			enable := arg == "on"
			req := vigilhttp.MaintenanceRequest{Enable: &enable, Reason: cCtx.String("reason")}
			return callAndPrint(cCtx, c, "PUT", "/v1/maintenance", req, func(w io.Writer, _ vigilhttp.MaintenanceResponse) error {
				state := "restored: peers pick it again"
				if enable {
					state = "drained: peers see health \"maintenance\" and stop picking it"
				}
				_, err := fmt.Fprintln(w, "This instance is "+state)
				return err
			})
		},
	}
}
