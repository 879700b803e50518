package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"
)

// serfAliases are serf agent flags that mean what a vigil agent flag
// means: vigil accepts them as other names of its own.
var serfAliases = map[string][]string{
	"name": {"node"},          // serf's node name
	"hook": {"event-handler"}, // the same [FILTER,...=]SCRIPT spec
	"join": {"retry-join"},    // vigil's -join already retries
}

// serfOnly is a serf agent flag whose meaning vigil does not share. Given
// to vigil agent, it is refused with the reason and the vigil command
// line to use instead.
type serfOnly struct {
	bool   bool
	reason string
	// instead returns the vigil flags that replace the flag with value v
	// (none: drop it).
	instead func(v string) []string
}

// serfOnlyFlags are serf agent's flags that vigil has no flag for.
var serfOnlyFlags = map[string]serfOnly{
	"rpc-addr": {reason: "vigil has no RPC: its commands call the agent's HTTP API (-http on the agent, -http-addr on the commands)",
		instead: func(v string) []string { return []string{"-http", v} }},
	"rpc-auth": {reason: "the HTTP API's token is -http-token (better: VIGIL_HTTP_TOKEN; ps shows flags)",
		instead: func(v string) []string { return []string{"-http-token", v} }},
	"tags-file": {reason: "vigil's tags come from -tag and the config file's tags:, and vigil tags set keeps its changes in -data-dir",
		instead: tagsFileFlags},
	"snapshot": {reason: "vigil keeps serf's snapshot in -data-dir, as DIR/serf.snapshot, beside its keyring and journal",
		instead: func(v string) []string { return []string{"-data-dir", filepath.Dir(v)} }},
	"keyring-file": {reason: "vigil keeps the keyring in -data-dir, as DIR/keyring, in serf's format (copy the file there)",
		instead: func(v string) []string { return []string{"-data-dir", filepath.Dir(v)} }},
	"config-file": {reason: "vigil's config file is YAML with its own keys (docs/migrating-from-serf.md): convert it, then",
		instead: func(v string) []string { return []string{"-config", strings.TrimSuffix(v, ".json") + ".yaml"} }},
	"role": {reason: "serf's role is the tag role",
		instead: func(v string) []string { return []string{"-tag", "role=" + v} }},
	"rejoin": {bool: true, reason: "vigil always rejoins the members of its -data-dir at start"},
	"replay": {bool: true, reason: "vigil never replays past user events to a member that joins"},
	"retry-interval": {reason: "vigil's -join (serf's -retry-join) retries with backoff from 1 s to 30 s until a member answers, then keeps the addresses joined every -join-interval",
		instead: func(string) []string { return nil }},
	"retry-max": {reason: "vigil's -join (serf's -retry-join) retries until a member answers; there is no limit",
		instead: func(string) []string { return nil }},
	"discover": {reason: "vigil has no mDNS discovery: give -join addresses (DNS names are resolved again every -join-interval)",
		instead: func(string) []string { return nil }},
	"mdns-iface": {reason: "vigil has no mDNS discovery",
		instead: func(string) []string { return nil }},
	"iface": {reason: "give -bind the interface's IP:PORT",
		instead: func(string) []string { return nil }},
	"syslog": {bool: true, reason: "vigil logs to stderr (JSON when it is not a terminal) for journald or a log shipper"},
	"protocol": {reason: "vigil speaks serf's current protocol, which serf agents from 0.8 on understand",
		instead: func(string) []string { return nil }},
	"broadcast-timeout": {reason: "vigil waits up to 3 s for every member's leave acknowledgement, 15 s in all",
		instead: func(string) []string { return nil }},
}

// serfAgentFlags returns hidden flags for serfOnlyFlags, so that vigil
// agent can answer them with what to write instead.
func serfAgentFlags() []cli.Flag {
	names := make([]string, 0, len(serfOnlyFlags))
	for n := range serfOnlyFlags {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []cli.Flag
	for _, n := range names {
		if serfOnlyFlags[n].bool {
			out = append(out, &cli.BoolFlag{Name: n, Hidden: true})
		} else {
			out = append(out, &cli.StringFlag{Name: n, Hidden: true})
		}
	}
	return out
}

// tagsFileFlags reads a serf tags file (a JSON object of tags) and
// returns its tags as -tag flags; none when it cannot be read.
func tagsFileFlags(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var tags map[string]string
	if json.Unmarshal(b, &tags) != nil {
		return nil
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, "-tag", k+"="+tags[k])
	}
	return out
}

// checkSerfOnlyFlags refuses the serf-only flags given to vigil agent,
// naming each with its reason, and gives the whole vigil command line
// with them replaced.
func checkSerfOnlyFlags(cCtx *cli.Context) error {
	var reasons []string
	replace := map[string][]string{}
	for name, s := range serfOnlyFlags {
		if !cCtx.IsSet(name) {
			continue
		}
		var with []string
		if !s.bool {
			with = s.instead(cCtx.String(name))
		}
		replace[name] = with
		r := "-" + name + ": " + s.reason
		if name == "tags-file" && len(with) == 0 {
			r += " (" + cCtx.String(name) + " could not be read as a JSON object of tags)"
		}
		reasons = append(reasons, r)
	}
	if len(reasons) == 0 {
		return nil
	}
	sort.Strings(reasons)
	argv, _ := cCtx.App.Metadata["argv"].([]string)
	line := []string{"vigil", "agent"}
	if len(argv) > 2 {
		line = append(line, rewriteArgs(argv[2:], replace)...)
	}
	for i, w := range line {
		line[i] = shellQuote(w)
	}
	return usageErrorHint(cCtx, "serf's %s: %s; instead: %s", plural(len(reasons), "flag", "flags"), strings.Join(reasons, "; "), strings.Join(line, " "))
}

// rewriteArgs replaces each flag of replace (with its value, when it
// takes one) in args by the flags replace gives it.
func rewriteArgs(args []string, replace map[string][]string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			out = append(out, args[i:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		with, ok := replace[name]
		if !ok {
			out = append(out, a)
			if !hasValue && i+1 < len(args) && flagTakesValue(name) {
				i++
				out = append(out, args[i])
			}
			continue
		}
		if !serfOnlyFlags[name].bool && !hasValue {
			i++ // its value
		}
		out = append(out, with...)
	}
	return out
}

// flagTakesValue reports whether a vigil agent flag takes a value (is not
// a bool flag).
func flagTakesValue(name string) bool {
	for _, f := range agentCommand().Flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return true
}

// serfCommands are serf's commands that vigil does not have, with what to
// use instead.
var serfCommands = map[string]string{
	"query":        "vigil has no serf queries: fire a user event (vigil event NAME PAYLOAD) and read answers from the hooks' output, or call each agent's HTTP API",
	"info":         "vigil has no info command: GET /v1/self on the agent's HTTP API (curl -s 127.0.0.1:7947/v1/self), or vigil version",
	"rtt":          "vigil has no rtt command: GET /v1/rtt gives the round-trip estimates, and GET /v1/pick/SERVICE?strategy=nearest uses the same network coordinates",
	"reachability": "vigil has no reachability command: vigil members shows each member's status",
}

// serfCommandAnswer answers a serf command vigil does not have; "" when
// name is not one of them.
func serfCommandAnswer(name string) string { return serfCommands[name] }

// serfFlagAnswer answers, for a command other than vigil agent (whose
// serf flags are defined, hidden), a serf flag it does not have; "" when
// name is not one of them.
func serfFlagAnswer(cCtx *cli.Context, name string) string {
	switch name {
	case "rpc-addr":
		return "-rpc-addr: vigil has no RPC: the commands call the agent's HTTP API: use -http-addr ADDR (the agent's -http)"
	case "rpc-auth":
		return "-rpc-auth: use -http-token TOKEN (better: VIGIL_HTTP_TOKEN; ps shows flags)"
	}
	return ""
}
