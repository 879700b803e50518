package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/membership"
)

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "print a new random 32-byte gossip encryption key (base64)",
		UsageText: `vigil keygen

The key is for the encrypt setting (VIGIL_ENCRYPT) and vigil keys install.
It also makes a good http_token.

Example:
   vigil keygen > /etc/vigil/gossip.key`,
		Action: func(cCtx *cli.Context) error {
			if cCtx.NArg() > 0 {
				return usageError("keygen takes no arguments (got %q)", cCtx.Args().Slice())
			}
			key, err := membership.GenerateKey()
			if err != nil {
				return cli.Exit("vigil: "+err.Error(), 1)
			}
			_, err = fmt.Fprintln(cCtx.App.Writer, key)
			return err
		},
	}
}

func keysCommand() *cli.Command {
	keyAction := func(name, usage, past, example string) *cli.Command {
		return &cli.Command{
			Name:      name,
			Usage:     usage,
			ArgsUsage: "KEY",
			UsageText: fmt.Sprintf("vigil keys %s [-format text|json] [-http-addr ADDR] KEY\n\nExample:\n   %s", name, example),
			Flags:     []cli.Flag{textFormatFlag(), httpAddrFlag()},
			Action: func(cCtx *cli.Context) error {
				if cCtx.NArg() != 1 {
					return usageError("keys %s needs exactly one key (usage: vigil keys %s KEY)", name, name)
				}
				key := cCtx.Args().First()
				if strings.HasPrefix(key, "-") {
					return usageError("keys %s: %q looks like a flag; flags go before the key", name, key)
				}
				if err := checkFormat(cCtx, "text", "json"); err != nil {
					return err
				}
				resp, raw, err := keysRequest(cCtx, http.MethodPost, "/v1/keys/"+name, vigilhttp.KeyRequest{Key: key})
				if err != nil {
					return err
				}
				if cCtx.String("format") == "json" {
					return printIndented(cCtx.App.Writer, raw)
				}
				fmt.Fprintf(cCtx.App.Writer, "%s the key on %d/%d %s\n", past, resp.NumResponses-resp.NumErrors, resp.NumNodes, plural(resp.NumNodes, "member", "members"))
				return nil
			},
		}
	}
	return &cli.Command{
		Name:  "keys",
		Usage: "list, install, use or remove gossip encryption keys across the cluster",
		UsageText: `vigil keys list|install|use|remove ...

Each command reaches every member through this agent. Example, a rotation:
   NEW=$(vigil keygen)
   vigil keys install "$NEW"   # every member can now decrypt with it
   vigil keys use "$NEW"       # every member now encrypts with it
   vigil keys remove OLD       # the old key is gone everywhere`,
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list the fingerprints of the keys installed on the members, and how many have each",
				UsageText: "vigil keys list [-format table|json] [-http-addr ADDR]\n\nExample:\n   vigil keys list",
				Flags:     []cli.Flag{formatFlag(), httpAddrFlag()},
				Action: func(cCtx *cli.Context) error {
					if cCtx.NArg() > 0 {
						return usageError("keys list takes no arguments (got %q)", cCtx.Args().Slice())
					}
					format := cCtx.String("format")
					if format != "table" && format != "json" {
						return usageError("-format %q: want table or json", format)
					}
					resp, raw, err := keysRequest(cCtx, http.MethodGet, "/v1/keys", nil)
					if err != nil {
						return err
					}
					if format == "json" {
						return printIndented(cCtx.App.Writer, raw)
					}
					return printKeys(cCtx.App.Writer, resp)
				},
			},
			keyAction("install", "install a key on every member (they go on encrypting with their primary key)", "Installed",
				`vigil keys install "$(vigil keygen)"`),
			keyAction("use", "make an installed key every member's primary key", "Now using",
				"vigil keys use 8DwtbJBwDGj7XCHLWlS8VdyjK3kdZP6bIdRwnLgqJjM="),
			keyAction("remove", "remove a key that is no longer primary from every member", "Removed",
				"vigil keys remove HhTDmSxUrtQ8v6WYQgBXtsnq0ziFz4F2dR1B5/vpsL8="),
		},
	}
}

// printKeys writes each key's fingerprint (the API shows no keys) with
// the members that have it and that use it.
func printKeys(w io.Writer, resp vigilhttp.KeysResponse) error {
	keys := make([]string, 0, len(resp.Keys))
	for k := range resp.Keys {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if pi, pj := resp.PrimaryKeys[keys[i]], resp.PrimaryKeys[keys[j]]; pi != pj {
			return pi > pj
		}
		return keys[i] < keys[j]
	})
	rows := make([][]string, len(keys))
	for i, k := range keys {
		rows[i] = []string{k, fmt.Sprintf("%d/%d", resp.Keys[k], resp.NumNodes), fmt.Sprintf("%d/%d", resp.PrimaryKeys[k], resp.NumNodes)}
	}
	return writeTable(w, []string{"FINGERPRINT", "INSTALLED", "PRIMARY"}, rows)
}

// keysRequest calls a /v1/keys endpoint. A 502 (some members failed) is
// an error listing what each failing member said.
func keysRequest(cCtx *cli.Context, method, path string, body any) (vigilhttp.KeysResponse, json.RawMessage, error) {
	var resp vigilhttp.KeysResponse
	c, err := newAPIClient(cCtx)
	if err != nil {
		return resp, nil, err
	}
	ctx, cancel := context.WithTimeout(cCtx.Context, requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return resp, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return resp, nil, usageError("-http-addr %q: %v", c.addr, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hr, err := c.hc.Do(req)
	if err != nil {
		return resp, nil, c.transportError(err)
	}
	defer hr.Body.Close()
	if hr.StatusCode != http.StatusOK && hr.StatusCode != http.StatusBadGateway {
		return resp, nil, c.statusError(hr)
	}
	raw, err := io.ReadAll(io.LimitReader(hr.Body, 4<<20))
	if err == nil {
		err = json.Unmarshal(raw, &resp)
	}
	if err != nil {
		return resp, nil, cli.Exit(fmt.Sprintf("vigil: agent at %s sent a response vigil can't read: %v", c.addr, err), 1)
	}
	if resp.Error != "" {
		var b strings.Builder
		fmt.Fprintf(&b, "vigil: %s (%d members, %d answered, %d failed)", safeText(resp.Error), resp.NumNodes, resp.NumResponses, resp.NumErrors)
		names := make([]string, 0, len(resp.Messages))
		for n := range resp.Messages {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(&b, "\n  %s: %s", safeText(n), safeText(resp.Messages[n]))
		}
		return resp, raw, cli.Exit(b.String(), 1)
	}
	return resp, raw, nil
}
