package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	"github.com/vigil-agent/vigil/agent"
)

// exitConfig is the exit status for a configuration error.
const exitConfig = 2

func agentCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: "config", Usage: "YAML config file (repeatable; later files win)"},
		&cli.StringFlag{Name: "config-dir", Usage: "`DIR` of YAML config files (*.yaml, *.yml), loaded in name order after the -config files [$VIGIL_CONFIG_DIR]"},
		&cli.BoolFlag{Name: "dev", Usage: "development mode: one agent on 127.0.0.1, local profile, debug logs, every event logged"},
	}
	for _, o := range agent.Options {
		usage := o.Usage
		if commaLists[o.Flag] {
			usage = strings.TrimSuffix(usage, " (repeatable)") + " (repeatable, or a comma-separated list)"
		}
		usage += " [$" + o.EnvVar() + "]"
		aliases := serfAliases[o.Flag]
		if len(aliases) > 0 {
			usage += " (serf's -" + strings.Join(aliases, ", -") + ")"
		}
		if o.Repeatable {
			flags = append(flags, &cli.StringSliceFlag{Name: o.Flag, Aliases: aliases, Usage: usage})
			continue
		}
		if o.Bool {
			flags = append(flags, &cli.BoolFlag{Name: o.Flag, Usage: usage})
			continue
		}
		f := &cli.StringFlag{Name: o.Flag, Aliases: aliases, Usage: usage}
		if o.Default != "" {
			f.DefaultText = o.Default
		}
		flags = append(flags, f)
	}
	flags = append(flags, serfAgentFlags()...)
	return &cli.Command{
		Name:  "agent",
		Usage: "run the vigil agent",
		UsageText: `vigil agent [flags]

Flags, VIGIL_* variables and config files set the same keys; see
docs/configuration.md.

Examples:
   vigil agent -dev
   vigil agent -name web-1 -bind 10.0.0.5:7946 -join 10.0.0.4:7946 -hook 'member-failed=/etc/vigil/on-failed.sh'
   vigil agent -config /etc/vigil/vigil.yaml -config-dir /etc/vigil/conf.d

serf's -node, -event-handler and -retry-join are other names of -name,
-hook and -join; its other agent flags are answered with the vigil flags
to use (docs/migrating-from-serf.md).`,
		Flags:  flags,
		Action: runAgent,
	}
}

// loadConfig layers the configuration: defaults, -dev, files, VIGIL_*
// environment, then flags.
func loadConfig(c *cli.Context) (agent.Config, error) {
	cfg := agent.Default()
	dev := c.Bool("dev")
	if !c.IsSet("dev") {
		if v, ok := os.LookupEnv("VIGIL_DEV"); ok {
			b, err := agent.ParseBool(v)
			if err != nil {
				return cfg, &agent.ConfigError{Where: "VIGIL_DEV", Msg: err.Error()}
			}
			dev = b
		}
	}
	if dev {
		cfg.ApplyDev()
	}
	files := c.StringSlice("config")
	if !c.IsSet("config") {
		if v, ok := os.LookupEnv("VIGIL_CONFIG"); ok && v != "" {
			files = []string{v}
		}
	}
	for _, f := range files {
		if err := cfg.LoadFile(f); err != nil {
			return cfg, err
		}
	}
	if dir := configDir(c); dir != "" {
		if err := cfg.LoadDir(dir); err != nil {
			return cfg, err
		}
	}
	if err := cfg.ApplyEnv(os.LookupEnv); err != nil {
		return cfg, err
	}
	var errs agent.ConfigErrors
	for _, o := range agent.Options {
		if !c.IsSet(o.Flag) {
			continue
		}
		values := []string{c.String(o.Flag)}
		if o.Bool {
			values = []string{strconv.FormatBool(c.Bool(o.Flag))}
		}
		if o.Repeatable {
			values = flagList(o.Flag, c.StringSlice(o.Flag))
		}
		for _, v := range values {
			if err := checkFlagValue(o.Flag, v); err != nil {
				errs = append(errs, &agent.ConfigError{Where: "-" + o.Flag, Key: o.Key, Msg: err.Error()})
				continue
			}
			if err := cfg.ApplyOption(o, v, "-"+o.Flag); err != nil {
				var ce *agent.ConfigError
				if errors.As(err, &ce) {
					errs = append(errs, ce)
				}
			}
		}
	}
	if len(errs) > 0 {
		return cfg, errs
	}
	return cfg, cfg.Validate()
}

// commaLists are the repeatable flags that also take a comma-separated
// list in one value, as their VIGIL_* variable does: -join a:7946,b:7946
// is -join a:7946 -join b:7946. -hook (serf's filter lists hold commas)
// and -config take each value whole; -tag takes one KEY=VALUE per flag
// (checkFlagValue).
var commaLists = map[string]bool{"join": true, "http-allowed-host": true}

// flagList returns a repeatable flag's values, split at commas for the
// flags of commaLists (spaces around items trimmed, empty items dropped).
func flagList(flag string, values []string) []string {
	if !commaLists[flag] {
		return values
	}
	var out []string
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// checkFlagValue refuses what the flag's value cannot mean: a -tag value
// holding a comma is almost always a list (-tag a=1,b=2), which VIGIL_TAG
// would split and the flag would not.
func checkFlagValue(flag, v string) error {
	if flag != "tag" {
		return nil
	}
	_, val, _ := strings.Cut(v, "=")
	if !strings.Contains(val, ",") {
		return nil
	}
	parts := strings.Split(v, ",")
	for _, p := range parts[1:] {
		if !strings.Contains(p, "=") {
			return fmt.Errorf("tag %q: a value cannot hold a comma on the command line or in VIGIL_TAG (which separates tags with commas); put it in the config file's tags:", v)
		}
	}
	return fmt.Errorf("tag %q: one tag per -tag: -tag %s", v, strings.Join(parts, " -tag "))
}

// configDir returns -config-dir, or VIGIL_CONFIG_DIR when the flag is not
// given.
func configDir(c *cli.Context) string {
	if c.IsSet("config-dir") {
		return c.String("config-dir")
	}
	return os.Getenv("VIGIL_CONFIG_DIR")
}

func runAgent(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit(fmt.Sprintf("vigil: agent takes no arguments, got %q (flags go before them?)", c.Args().Slice()), exitConfig)
	}
	if err := checkSerfOnlyFlags(c); err != nil {
		return err
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return cli.Exit("vigil: configuration error:\n"+err.Error(), exitConfig)
	}
	logger := agent.NewLogger(&cfg, os.Stderr)
	a, err := agent.New(cfg, logger, version)
	if err != nil {
		return cli.Exit("vigil: configuration error:\n"+err.Error(), exitConfig)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		logger.Info().Str("signal", sig.String()).Msg("leaving gracefully; a second signal exits at once")
		cancel()
		sig = <-sigs
		logger.Warn().Str("signal", sig.String()).Msg("second signal, exiting now")
		os.Exit(1)
	}()
	// SIGHUP reloads the configuration from the same files, environment
	// and flags; a configuration with errors leaves the running one.
	a.SetReloader(func() (agent.Config, error) { return loadConfig(c) })
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			logger.Info().Msg("SIGHUP received: reloading the configuration")
			_, _ = a.Reload() // Reload logs its outcome
		}
	}()
	if err := a.Run(ctx); err != nil {
		logger.Error().Err(err).Msg("agent stopped")
		return cli.Exit("", 1)
	}
	return nil
}
