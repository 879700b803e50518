package main

import (
	"io"
	"strings"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	vigilhttp "github.com/vigil-agent/vigil/http"
)

// tagsCommand changes this agent's tags while it runs: serf's
// "serf tags -set/-delete".
func tagsCommand() *cli.Command {
	print := func(w io.Writer, resp vigilhttp.TagsResponse) error {
		_, err := io.WriteString(w, "Tags of this agent: "+formatTags(resp.Tags)+"\n")
		return err
	}
	return &cli.Command{
		Name:  "tags",
		Usage: "set or remove this agent's tags while it runs (gossiped at once, kept in data_dir)",
		UsageText: `vigil tags set|unset ...

The tags change over the configured ones (files, VIGIL_TAG, -tag) until
changed again, and are kept in data_dir/tags.json across restarts.
vigil's own tags (service, health, boot...) are refused.

Examples:
   vigil tags set role=primary dc=east
   vigil tags unset dc`,
		Subcommands: []*cli.Command{
			{
				Name:      "set",
				Usage:     "set tags KEY=VALUE on this agent",
				ArgsUsage: "KEY=VALUE...",
				UsageText: `vigil tags set [-format text|json] [-http-addr ADDR] KEY=VALUE...

Example:
   vigil tags set role=primary`,
				Flags: []cli.Flag{textFormatFlag(), httpAddrFlag()},
				Action: func(cCtx *cli.Context) error {
					args := cCtx.Args().Slice()
					if len(args) == 0 {
						return usageError("tags set needs at least one KEY=VALUE (usage: vigil tags set KEY=VALUE...)")
					}
					set := map[string]string{}
					for _, a := range args {
						k, v, ok := strings.Cut(a, "=")
						if !ok || k == "" {
							return usageError("tags set: %q: want KEY=VALUE", a)
						}
						set[k] = v
					}
					return changeTags(cCtx, vigilhttp.TagsRequest{Set: set}, print)
				},
			},
			{
				Name:      "unset",
				Usage:     "remove tags from this agent",
				ArgsUsage: "KEY...",
				UsageText: `vigil tags unset [-format text|json] [-http-addr ADDR] KEY...

Example:
   vigil tags unset dc`,
				Flags: []cli.Flag{textFormatFlag(), httpAddrFlag()},
				Action: func(cCtx *cli.Context) error {
					keys := cCtx.Args().Slice()
					if len(keys) == 0 {
						return usageError("tags unset needs at least one KEY (usage: vigil tags unset KEY...)")
					}
					for _, k := range keys {
						if k == "" || strings.Contains(k, "=") {
							return usageError("tags unset: %q: want a tag KEY (vigil tags set sets KEY=VALUE)", k)
						}
					}
					return changeTags(cCtx, vigilhttp.TagsRequest{Unset: keys}, print)
				},
			},
		},
	}
}

// changeTags sends POST /v1/tags and prints the answer.
func changeTags(cCtx *cli.Context, req vigilhttp.TagsRequest, text func(io.Writer, vigilhttp.TagsResponse) error) error {
	if err := checkFormat(cCtx, "text", "json"); err != nil {
		return err
	}
	c, err := newAPIClient(cCtx)
	if err != nil {
		return err
	}
	return callAndPrint(cCtx, c, "POST", "/v1/tags", req, text)
}
