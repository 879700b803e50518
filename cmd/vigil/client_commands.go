package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/serf/serf"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	"github.com/vigil-agent/vigil/events"
	vigilhttp "github.com/vigil-agent/vigil/http"
)

func membersCommand() *cli.Command {
	return &cli.Command{
		Name:  "members",
		Usage: "list the cluster's members",
		UsageText: `vigil members [-status alive|leaving|left|failed] [-tag KEY=VALUE]... [-format table|json|serf-json] [-http-addr ADDR]

The table shows each member's service health (the health tag, "-" when
it offers no service) and its tags, without vigil's internal boot and
health_seq tags; -format json shows everything; -format serf-json prints
what "serf members -format json" prints: {"members": [...]}, each with
"addr" as IP:PORT.

Examples:
   vigil members -status failed
   vigil members -tag role=replica -tag dc=east
   vigil members -format serf-json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "status", Usage: "only members with this `STATUS` (alive, leaving, left, failed)"},
			&cli.StringSliceFlag{Name: "tag", Usage: "only members with the tag `KEY=VALUE` (repeatable: all must match)"},
			&cli.StringFlag{Name: "format", Usage: "output `FORMAT`: table, json, or serf-json (serf members' JSON)", Value: "table"},
			httpAddrFlag(),
		},
		Action: func(cCtx *cli.Context) error {
			if cCtx.NArg() > 0 {
				return usageError("members takes no arguments (got %q); flags go before arguments", cCtx.Args().Slice())
			}
			if err := checkFormat(cCtx, "table", "json", "serf-json"); err != nil {
				return err
			}
			want, err := parseTagFilters(cCtx.StringSlice("tag"))
			if err != nil {
				return err
			}
			c, err := newAPIClient(cCtx)
			if err != nil {
				return err
			}
			var q url.Values
			if s := cCtx.String("status"); s != "" {
				switch s {
				case "alive", "leaving", "left", "failed":
				default:
					return usageError("-status %q: want alive, leaving, left or failed", s)
				}
				q = url.Values{"status": {s}}
			}
			var raw json.RawMessage
			if err := c.call(cCtx.Context, "GET", "/v1/members", q, nil, &raw); err != nil {
				return err
			}
			w := cCtx.App.Writer
			if cCtx.String("format") == "json" && len(want) == 0 {
				return printIndented(w, raw)
			}
			var members []events.Member
			if err := json.Unmarshal(raw, &members); err != nil {
				return cli.Exit(fmt.Sprintf("vigil: agent at %s sent members vigil can't read: %v", c.addr, err), 1)
			}
			members = filterByTags(members, want)
			switch cCtx.String("format") {
			case "json":
				return printJSONValue(w, members)
			case "serf-json":
				return printJSONValue(w, serfMembers(members))
			}
			return printMembers(w, members)
		},
	}
}

// serfMember is one member as "serf members -format json" prints it
// (serf's cmd/serf/command/members.go).
type serfMember struct {
	Name   string            `json:"name"`
	Addr   string            `json:"addr"` // IP:PORT
	Port   uint16            `json:"port"`
	Tags   map[string]string `json:"tags"`
	Status string            `json:"status"`
	// Protocol is serf's delegate protocol: min, max and version.
	Protocol map[string]uint8 `json:"protocol"`
}

// serfMemberList is "serf members -format json"'s document.
type serfMemberList struct {
	Members []serfMember `json:"members"`
}

// serfMembers returns members in serf's shape. Every vigil agent runs
// the same serf library, so the protocol range is this build's: serf's
// minimum and maximum, and the version its default configuration speaks.
func serfMembers(members []events.Member) serfMemberList {
	out := serfMemberList{Members: []serfMember{}}
	for _, m := range members {
		tags := m.Tags
		if tags == nil {
			tags = map[string]string{}
		}
		out.Members = append(out.Members, serfMember{
			Name: m.Name, Addr: net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port))), Port: uint16(m.Port),
			Tags: tags, Status: string(m.Status),
			Protocol: map[string]uint8{"min": serf.ProtocolVersionMin, "max": serf.ProtocolVersionMax, "version": serfProtocolVersion},
		})
	}
	return out
}

// serfProtocolVersion is the serf protocol vigil's agents speak: serf's
// default (vigil does not change it).
const serfProtocolVersion = 4

// parseTagFilters parses -tag KEY=VALUE values.
func parseTagFilters(specs []string) (map[string]string, error) {
	want := map[string]string{}
	for _, spec := range specs {
		k, v, ok := strings.Cut(spec, "=")
		if !ok || k == "" {
			return nil, usageError("-tag %q: want KEY=VALUE", spec)
		}
		want[k] = v
	}
	return want, nil
}

// filterByTags keeps the members that have every tag of want.
func filterByTags(members []events.Member, want map[string]string) []events.Member {
	out := make([]events.Member, 0, len(members))
	for _, m := range members {
		ok := true
		for k, v := range want {
			if got, has := m.Tags[k]; !has || got != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

// internalTags are vigil's bookkeeping tags, left out of the members
// table: the start's boot id and the health change counter.
var internalTags = []string{events.BootTag, events.HealthSeqTag}

// printMembers writes members as an aligned table: NAME ADDRESS STATUS
// HEALTH TAGS, health "-" for a member without a service.
func printMembers(w io.Writer, members []events.Member) error {
	rows := make([][]string, len(members))
	for i, m := range members {
		health := m.Tags[events.HealthTag]
		if health == "" {
			health = "-"
		}
		tags := maps.Clone(m.Tags)
		for _, k := range internalTags {
			delete(tags, k)
		}
		rows[i] = []string{m.Name, net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port))), string(m.Status), health, formatTags(tags)}
	}
	return writeTable(w, []string{"NAME", "ADDRESS", "STATUS", "HEALTH", "TAGS"}, rows)
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

// printIndented writes a JSON document indented, with a final newline, and
// the characters a terminal could act on escaped (safeJSON).
func printIndented(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(safeJSON(buf.Bytes()))
	return err
}

func joinCommand() *cli.Command {
	return &cli.Command{
		Name:      "join",
		Usage:     "join the agent to a cluster through one or more members",
		ArgsUsage: "ADDR...",
		UsageText: `vigil join [-format text|json] [-http-addr ADDR] HOST:PORT...

Each address is a member's gossip address (its -bind), not its HTTP address.

Example:
   vigil join 10.0.0.5:7946 10.0.0.6:7946`,
		Flags: []cli.Flag{textFormatFlag(), httpAddrFlag()},
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
			if err := checkFormat(cCtx, "text", "json"); err != nil {
				return err
			}
			c, err := newAPIClient(cCtx)
			if err != nil {
				return err
			}
			return callAndPrint(cCtx, c, "POST", "/v1/join", vigilhttp.JoinRequest{Addrs: addrs}, func(w io.Writer, resp vigilhttp.JoinResponse) error {
				_, err := fmt.Fprintf(w, "Joined %d %s\n", resp.Joined, plural(resp.Joined, "member", "members"))
				return err
			})
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
		UsageText: `vigil leave [-format text|json] [-http-addr ADDR]

With drain set, the agent first keeps its service in maintenance for that
long.

Example:
   vigil leave -http-addr 127.0.0.1:7947`,
		Flags: []cli.Flag{textFormatFlag(), httpAddrFlag()},
		Action: func(cCtx *cli.Context) error {
			if cCtx.NArg() > 0 {
				return usageError("leave takes no arguments (got %q)", cCtx.Args().Slice())
			}
			if err := checkFormat(cCtx, "text", "json"); err != nil {
				return err
			}
			c, err := newAPIClient(cCtx)
			if err != nil {
				return err
			}
			return callAndPrint(cCtx, c, "POST", "/v1/leave", nil, func(w io.Writer, _ vigilhttp.LeaveResponse) error {
				_, err := fmt.Fprintf(w, "Agent at %s is leaving the cluster\n", c.addr)
				return err
			})
		},
	}
}

func eventCommand() *cli.Command {
	return &cli.Command{
		Name:      "event",
		Usage:     "fire a user event across the cluster",
		ArgsUsage: "NAME [PAYLOAD]",
		UsageText: `vigil event [-format text|json] [-http-addr ADDR] NAME [PAYLOAD]

Hooks with the filter user:NAME (or user, or *) run on every member.

Example:
   vigil event deploy v1.4.2`,
		Flags: []cli.Flag{textFormatFlag(), httpAddrFlag()},
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
			if err := checkFormat(cCtx, "text", "json"); err != nil {
				return err
			}
			c, err := newAPIClient(cCtx)
			if err != nil {
				return err
			}
			return callAndPrint(cCtx, c, "POST", "/v1/event", req, func(w io.Writer, _ vigilhttp.EventResponse) error {
				_, err := fmt.Fprintf(w, "Fired user event %q\n", req.Name)
				return err
			})
		},
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print vigil's version",
		UsageText: `vigil version [-format text|json]

Example:
   vigil version -format json`,
		Flags: []cli.Flag{textFormatFlag()},
		Action: func(cCtx *cli.Context) error {
			if err := checkFormat(cCtx, "text", "json"); err != nil {
				return err
			}
			if cCtx.String("format") == "json" {
				return printJSONValue(cCtx.App.Writer, map[string]string{"version": version})
			}
			fmt.Fprintf(cCtx.App.Writer, "vigil %s\n", version)
			return nil
		},
	}
}
