package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	"github.com/vigil-agent/vigil/agent"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check config files without starting an agent",
		ArgsUsage: "FILE...",
		UsageText: `vigil validate [-env] [-config-dir DIR] FILE...

The files are layered in order, as "vigil agent -config FILE -config FILE"
would load them, then the *.yaml and *.yml files of -config-dir in name
order, and the result is checked. Every problem in every file is
reported; the exit status is 0 when the configuration is valid and 2 when
it is not.

Example:
   vigil validate /etc/vigil/vigil.yaml
   vigil validate -config-dir /etc/vigil/conf.d /etc/vigil/vigil.yaml`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config-dir", Usage: "also check the *.yaml and *.yml files of `DIR`, after the FILEs, as vigil agent -config-dir would load them"},
			&cli.BoolFlag{Name: "env", Usage: "apply the VIGIL_* environment variables too, as the agent would (a token kept in VIGIL_HTTP_TOKEN, say)"},
		},
		Action: runValidate,
	}
}

func runValidate(cCtx *cli.Context) error {
	files := cCtx.Args().Slice()
	dir := cCtx.String("config-dir")
	if len(files) == 0 && dir == "" {
		return usageError("validate needs at least one config file or -config-dir (usage: vigil validate [-config-dir DIR] FILE...)")
	}
	for _, f := range files {
		if strings.HasPrefix(f, "-") {
			return usageError("validate: %q looks like a flag; flags go before the files", f)
		}
	}
	if dir != "" {
		dirFiles, err := agent.ConfigDirFiles(dir)
		if err != nil {
			fmt.Fprintf(cCtx.App.ErrWriter, "%s\n", err)
			return cli.Exit(fmt.Sprintf("vigil: 1 problem in %s", dir), exitConfig)
		}
		files = append(files, dirFiles...)
		if len(dirFiles) == 0 && len(files) == 0 {
			return usageError("validate: %s has no *.yaml or *.yml file", dir)
		}
	}
	cfg := agent.Default()
	var errs agent.ConfigErrors
	collect := func(err error) {
		var ces agent.ConfigErrors
		var ce *agent.ConfigError
		switch {
		case err == nil:
		case errors.As(err, &ces):
			errs = append(errs, ces...)
		case errors.As(err, &ce):
			errs = append(errs, ce)
		default:
			errs = append(errs, &agent.ConfigError{Msg: err.Error()})
		}
	}
	for _, f := range files {
		// A file with a YAML-level error (syntax, unknown key, wrong type)
		// is reported and left out, so half of it does not confuse the
		// check of the whole; the other files are still loaded and checked.
		scratch := agent.Default()
		if err := scratch.LoadFile(f); err != nil {
			collect(err)
			continue
		}
		collect(cfg.LoadFile(f))
	}
	if cCtx.Bool("env") {
		collect(cfg.ApplyEnv(os.LookupEnv))
	}
	collect(cfg.Validate())
	if len(errs) == 0 {
		for _, w := range cfg.HookWarnings() {
			fmt.Fprintf(cCtx.App.ErrWriter, "warning: %s\n", w)
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(cCtx.App.ErrWriter, "%s\n", errs.Error())
		return cli.Exit(fmt.Sprintf("vigil: %d %s in %s", len(errs), plural(len(errs), "problem", "problems"), strings.Join(files, ", ")), exitConfig)
	}
	return printSummary(cCtx.App.Writer, &cfg, files)
}

// printSummary writes what a valid configuration sets up.
func printSummary(w io.Writer, cfg *agent.Config, files []string) error {
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Configuration is valid (%s)\n", strings.Join(files, ", "))
	fmt.Fprintf(&b, "  name:     %s\n", cfg.Name)
	fmt.Fprintf(&b, "  bind:     %s (profile %s)\n", cfg.Bind, cfg.Profile)
	fmt.Fprintf(&b, "  http:     %s (token %s, tls %s)\n", cfg.HTTP, onOff(cfg.HTTPToken != ""), onOff(cfg.HTTPTLSCert != ""))
	enc := onOff(cfg.Encrypt != "")
	switch {
	case cfg.DataDir != "" && cfg.Encrypt != "":
		enc += " (data_dir/keyring wins once it exists)"
	case cfg.DataDir != "":
		enc += " unless data_dir/keyring exists"
	}
	fmt.Fprintf(&b, "  encrypt:  %s\n", enc)
	if cfg.DataDir != "" {
		fmt.Fprintf(&b, "  data_dir: %s\n", cfg.DataDir)
	}
	if len(cfg.Join) > 0 {
		fmt.Fprintf(&b, "  join:     %s\n", strings.Join(cfg.Join, ", "))
	}
	if cfg.Service != nil {
		fmt.Fprintf(&b, "  service:  %s:%d\n", cfg.Service.Name, cfg.Service.Port)
	} else {
		fmt.Fprintf(&b, "  service:  none\n")
	}
	ids := make([]string, len(cfg.Checks))
	for i, c := range cfg.Checks {
		ids[i] = c.ID
	}
	fmt.Fprintf(&b, "  checks:   %d%s\n", len(ids), listSuffix(ids))
	names := make([]string, len(cfg.Hooks))
	for i, h := range cfg.Hooks {
		names[i] = h.Name
		if names[i] == "" {
			names[i] = fmt.Sprintf("hook-%d", i+1)
		}
	}
	fmt.Fprintf(&b, "  hooks:    %d%s\n", len(names), listSuffix(names))
	if l := cfg.Failover.Lock; len(l.Etcd) > 0 {
		// Never the password: only whether auth is on.
		fmt.Fprintf(&b, "  failover: etcd lock at %s (tls %s, auth %s)\n", strings.Join(l.Etcd, ", "),
			onOff(l.TLS.CAFile != "" || l.TLS.CertFile != "" || strings.HasPrefix(l.Etcd[0], "https://")), onOff(l.Username != ""))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func listSuffix(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return " (" + strings.Join(items, ", ") + ")"
}
