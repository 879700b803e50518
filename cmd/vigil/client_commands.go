package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/vigil-agent/vigil/events"
	vigilhttp "github.com/vigil-agent/vigil/http"
)

func membersCommand() *cli.Command {
	return &cli.Command{
		Name:  "members",
		Usage: "list the cluster's members",
		UsageText: `vigil members [-status alive|leaving|left|failed] [-format table|json] [-http-addr ADDR]

Example:
   vigil members -status failed`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "status", Usage: "only members with this `STATUS` (alive, leaving, left, failed)"},
			&cli.StringFlag{Name: "format", Usage: "output `FORMAT`: table or json", Value: "table"},
			httpAddrFlag(),
		},
		Action: func(cCtx *cli.Context) error {
			if cCtx.NArg() > 0 {
				return usageError("members takes no arguments (got %q); flags go before arguments", cCtx.Args().Slice())
			}
			format := cCtx.String("format")
			if format != "table" && format != "json" {
				return usageError("-format %q: want table or json", format)
			}
			c, err := newAPIClient(cCtx)
			if err != nil {
				return err
			}
			var q url.Values
			if s := cCtx.String("status"); s != "" {
				q = url.Values{"status": {s}}
			}
			var raw json.RawMessage
			if err := c.call(cCtx.Context, "GET", "/v1/members", q, nil, &raw); err != nil {
				return err
			}
			w := cCtx.App.Writer
			if format == "json" {
				return printIndented(w, raw)
			}
			var members []events.Member
			if err := json.Unmarshal(raw, &members); err != nil {
				return cli.Exit(fmt.Sprintf("vigil: agent at %s sent members vigil can't read: %v", c.addr, err), 1)
			}
			return printMembers(w, members)
		},
	}
}

// printMembers writes members as an aligned table, without the trailing
// spaces tabwriter leaves before an empty last column.
func printMembers(w io.Writer, members []events.Member) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tSTATUS\tTAGS")
	for _, m := range members {
		addr := net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Name, addr, m.Status, formatTags(m.Tags))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var out strings.Builder
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line == "" {
			continue
		}
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// formatTags renders tags as k=v pairs sorted by key, comma-joined.
func formatTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + tags[k]
	}
	return strings.Join(pairs, ",")
}

// printIndented writes a JSON document indented, with a final newline.
func printIndented(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func joinCommand() *cli.Command {
	return &cli.Command{
		Name:      "join",
		Usage:     "join the agent to a cluster through one or more members",
		ArgsUsage: "ADDR...",
		UsageText: `vigil join [-http-addr ADDR] HOST:PORT...

Each address is a member's gossip address (its -bind), not its HTTP address.

Example:
   vigil join 10.0.0.5:7946 10.0.0.6:7946`,
		Flags: []cli.Flag{httpAddrFlag()},
		Action: func(cCtx *cli.Context) error {
			addrs := cCtx.Args().Slice()
			if len(addrs) == 0 {
				return usageError("join needs at least one address (usage: vigil join HOST:PORT...)")
			}
			for _, a := range addrs {
				if strings.HasPrefix(a, "-") {
					return usageError("join: %q looks like a flag; flags go before the addresses", a)
				}
			}
			c, err := newAPIClient(cCtx)
			if err != nil {
				return err
			}
			var resp vigilhttp.JoinResponse
			if err := c.call(cCtx.Context, "POST", "/v1/join", nil, vigilhttp.JoinRequest{Addrs: addrs}, &resp); err != nil {
				return err
			}
			fmt.Fprintf(cCtx.App.Writer, "Joined %d %s\n", resp.Joined, plural(resp.Joined, "member", "members"))
			return nil
		},
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func leaveCommand() *cli.Command {
	return &cli.Command{
		Name:  "leave",
		Usage: "make the agent leave the cluster gracefully and exit",
		UsageText: `vigil leave [-http-addr ADDR]

Example:
   vigil leave -http-addr 127.0.0.1:7947`,
		Flags: []cli.Flag{httpAddrFlag()},
		Action: func(cCtx *cli.Context) error {
			if cCtx.NArg() > 0 {
				return usageError("leave takes no arguments (got %q)", cCtx.Args().Slice())
			}
			c, err := newAPIClient(cCtx)
			if err != nil {
				return err
			}
			var resp vigilhttp.LeaveResponse
			if err := c.call(cCtx.Context, "POST", "/v1/leave", nil, nil, &resp); err != nil {
				return err
			}
			fmt.Fprintf(cCtx.App.Writer, "Agent at %s is leaving the cluster\n", c.addr)
			return nil
		},
	}
}

func eventCommand() *cli.Command {
	return &cli.Command{
		Name:      "event",
		Usage:     "fire a user event across the cluster",
		ArgsUsage: "NAME [PAYLOAD]",
		UsageText: `vigil event [-http-addr ADDR] NAME [PAYLOAD]

Hooks with the filter user:NAME (or user, or *) run on every member.

Example:
   vigil event deploy v1.4.2`,
		Flags: []cli.Flag{httpAddrFlag()},
		Action: func(cCtx *cli.Context) error {
			args := cCtx.Args().Slice()
			if len(args) < 1 || len(args) > 2 {
				return usageError("event needs a name and at most one payload (usage: vigil event NAME [PAYLOAD])")
			}
			req := vigilhttp.EventRequest{Name: args[0]}
			if len(args) == 2 {
				req.Payload = args[1]
			}
			if req.Name == "" {
				return usageError("event name is empty")
			}
			c, err := newAPIClient(cCtx)
			if err != nil {
				return err
			}
			var resp vigilhttp.EventResponse
			if err := c.call(cCtx.Context, "POST", "/v1/event", nil, req, &resp); err != nil {
				return err
			}
			fmt.Fprintf(cCtx.App.Writer, "Fired user event %q\n", req.Name)
			return nil
		},
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print vigil's version",
		UsageText: `vigil version

Example:
   vigil version`,
		Action: func(cCtx *cli.Context) error {
			fmt.Fprintf(cCtx.App.Writer, "vigil %s\n", version)
			return nil
		},
	}
}
