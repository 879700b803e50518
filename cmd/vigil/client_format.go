package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"
)

// textFormatFlag is the -format flag of the commands that print a message:
// text (default) or json, the API's answer as it came.
func textFormatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Usage: "output `FORMAT`: text or json (the API's answer)", Value: "text"}
}

// checkFormat returns a usage error unless -format is one of allowed.
func checkFormat(cCtx *cli.Context, allowed ...string) error {
	if f := cCtx.String("format"); !slices.Contains(allowed, f) {
		return usageError("-format %q: want %s", f, strings.Join(allowed, " or "))
	}
	return nil
}

// callAndPrint sends one request and prints the answer: indented JSON with
// -format json, otherwise what text writes from the decoded answer. The
// caller checks -format first, so that a bad one changes nothing.
func callAndPrint[T any](cCtx *cli.Context, c *apiClient, method, path string, body any, text func(io.Writer, T) error) error {
	var raw json.RawMessage
	if err := c.call(cCtx.Context, method, path, nil, body, &raw); err != nil {
		return err
	}
	if cCtx.String("format") == "json" {
		return printIndented(cCtx.App.Writer, raw)
	}
	var v T
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &v); err != nil {
			return cli.Exit(fmt.Sprintf("vigil: agent at %s sent a response vigil can't read: %v", c.addr, err), 1)
		}
	}
	return text(cCtx.App.Writer, v)
}
