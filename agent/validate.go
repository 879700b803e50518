package agent

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/failover"
	"github.com/vigil-agent/vigil/events/hook"
	"github.com/vigil-agent/vigil/membership"
)

// Validate checks the whole configuration and returns every problem found,
// each naming its key and where it was set.
func (c *Config) Validate() error {
	var errs ConfigErrors
	add := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Where: c.where(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Name == "" {
		add("name", "must not be empty")
	}
	if _, _, err := splitHostPort(c.Bind); err != nil {
		add("bind", "%v", err)
	}
	if c.Advertise != "" {
		if _, _, err := splitHostPort(c.Advertise); err != nil {
			add("advertise", "%v", err)
		}
	}
	if _, _, err := splitHostPort(c.HTTP); err != nil {
		add("http", "%v", err)
	}
	for i, j := range c.Join {
		if j == "" {
			add("join["+strconv.Itoa(i)+"]", "empty address")
		}
	}
	if err := membership.ValidateClusterName(c.ClusterName); err != nil {
		add("cluster_name", "%v", err)
	}
	if _, err := membership.MemberlistConfig(membership.Profile(c.Profile)); err != nil {
		add("profile", "%v", err)
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil || c.LogLevel == "" {
		add("log_level", "%q: want trace, debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "", "json", "console":
	default:
		add("log_format", "%q: want json or console", c.LogFormat)
	}
	if f := c.Failover; f.FlapLimit < 0 || f.FlapWindow < 0 || f.BrakeWindow < 0 || f.BrakeFraction < 0 || f.BrakeFraction > 1 {
		add("failover", "flap_limit, flap_window and brake_window must not be negative; brake_fraction is from 0 to 1")
	}
	if l := time.Duration(c.Failover.Lease); l != 0 && l < time.Second {
		add("failover", "lease %s: must be at least 1s (or left out for 10s)", l)
	}
	if c.HookMaxConcurrent < 0 {
		add("hook_max_concurrent", "%d: must be 0 (no limit) or more", c.HookMaxConcurrent)
	}
	if d := time.Duration(c.HookCoalesce); d < 0 || d > MaxHookCoalesce {
		add("hook_coalesce", "%s: must be from 0 (off) to %s", c.HookCoalesce, MaxHookCoalesce)
	}
	if c.HookTimeout <= 0 {
		add("hook_timeout", "%s: must be positive", c.HookTimeout)
	}
	if d := time.Duration(c.JoinInterval); d < 0 || (d > 0 && d < MinJoinInterval) {
		add("join_interval", "%s: must be 0 (join only at start) or at least %s", c.JoinInterval, MinJoinInterval)
	}
	if d := time.Duration(c.ConfirmTimeout); d < 0 || d > MaxConfirmTimeout {
		add("confirm_timeout", "%s: must be from 0 (the profile's probe timeout) to %s", c.ConfirmTimeout, MaxConfirmTimeout)
	}
	if c.JoinSyncRounds < 0 || c.JoinSyncRounds > MaxJoinSyncRounds {
		add("join_sync_rounds", "%d: must be from 0 (off) to %d", c.JoinSyncRounds, MaxJoinSyncRounds)
	}
	errs = append(errs, c.validateDNS()...)
	errs = append(errs, c.validateConsul()...)
	errs = append(errs, c.validateService()...)
	errs = append(errs, c.validateTiming()...)
	errs = append(errs, c.validateDrain()...)
	errs = append(errs, c.validateSecurity()...)
	errs = append(errs, c.validateUserEvents()...)
	errs = append(errs, c.validateLock()...)
	if _, err := c.buildHooks(); err != nil {
		if ce, ok := err.(ConfigErrors); ok {
			errs = append(errs, ce...)
		} else {
			add("hooks", "%v", err)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// buildHooks turns the file's hooks and the -hook specs into events.Hooks.
func (c *Config) buildHooks() ([]hook.Hook, error) {
	var errs ConfigErrors
	var hooks []hook.Hook
	names := map[string]string{}
	for i, hc := range c.Hooks {
		key := "hooks[" + strconv.Itoa(i) + "]"
		fail := func(sub, format string, args ...any) {
			k := key
			if sub != "" {
				k += "." + sub
			}
			where := c.where(k)
			if where == "" {
				where = c.where(key)
			}
			errs = append(errs, &ConfigError{Where: where, Key: k, Msg: fmt.Sprintf(format, args...)})
		}
		name := hc.Name
		if name == "" {
			name = unusedHookName(names, len(hooks)+1)
		}
		filters, err := events.ParseFilters(hc.On)
		if err != nil {
			fail("on", "%v", err)
			continue
		}
		switch {
		case len(hc.Command) == 0 && hc.Shell == "":
			fail("", "needs a command (argv list) or a shell script")
			continue
		case len(hc.Command) > 0 && hc.Shell != "":
			fail("", "set command or shell, not both")
			continue
		}
		if hc.Timeout < 0 {
			fail("timeout", "%s: must not be negative", hc.Timeout)
			continue
		}
		budget, err := hook.ParseBudget(hc.MaxRunsPer)
		if err != nil {
			fail("max_runs_per", "%v", err)
			continue
		}
		h := hook.Hook{Name: name, Filters: filters, Command: hc.Command, Shell: hc.Shell,
			Timeout: time.Duration(hc.Timeout), Stdin: hook.StdinFormat(hc.Stdin), Budget: budget,
			Match: hc.Match, RunOn: hook.RunOn(hc.RunOn), Eligible: hc.Eligible,
			Settle: time.Duration(hc.Settle), Retries: hc.Retries}
		switch hc.Quorum {
		case "majority":
			h.Quorum = true
		case "none":
		case "":
			h.Quorum = h.RunOn == hook.RunOnOne
		default:
			fail("quorum", "%q: want majority or none", hc.Quorum)
			continue
		}
		if h.RunOn == hook.RunOnOne && hc.Settle == 0 && c.where(key+".settle") == "" {
			h.Settle = DefaultOneSettle
		}
		if err := h.Validate(); err != nil {
			fail("", "%v", err)
			continue
		}
		if prev, dup := names[name]; dup {
			fail("name", "hook name %q is used by %s too", name, prev)
			continue
		}
		names[name] = key
		hooks = append(hooks, h)
	}
	for _, spec := range c.HookSpecs {
		h, err := hook.ParseHookSpec(spec)
		if err != nil {
			errs = append(errs, &ConfigError{Where: c.where("hooks"), Key: "hook", Msg: err.Error()})
			continue
		}
		h.Name = unusedHookName(names, len(hooks)+1)
		names[h.Name] = "-hook"
		hooks = append(hooks, h)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return hooks, nil
}

// unusedHookName returns the first name hook-N, from n up, not in names.
func unusedHookName(names map[string]string, n int) string {
	for ; ; n++ {
		name := "hook-" + strconv.Itoa(n)
		if _, used := names[name]; !used {
			return name
		}
	}
}

// DefaultOneSettle is the settle of a run_on: one hook that sets none.
const DefaultOneSettle = 2 * time.Second

// failoverConfig returns the guards' settings with defaults.
func (c *Config) failoverConfig() failover.Config {
	return failover.Config{
		FlapLimit:     c.Failover.FlapLimit,
		FlapWindow:    time.Duration(c.Failover.FlapWindow),
		BrakeFraction: c.Failover.BrakeFraction,
		BrakeWindow:   time.Duration(c.Failover.BrakeWindow),
		Lease:         time.Duration(c.Failover.Lease),
	}.WithDefaults()
}

// HookWarnings names the hooks whose program cannot be run as the
// configuration stands: a command (or a shell script's first word that is
// a path) that is not an executable file for this user. They are
// warnings, not errors: the agent starts, and such a hook fails when it
// runs (the program may be installed later, or belong to another user).
func (c *Config) HookWarnings() []string {
	var out []string
	for i, h := range c.Hooks {
		key := fmt.Sprintf("hooks[%d].command", i)
		prog := ""
		switch {
		case len(h.Command) > 0:
			prog = h.Command[0]
		case h.Shell != "":
			key = fmt.Sprintf("hooks[%d].shell", i)
			if f := strings.Fields(h.Shell); len(f) > 0 && strings.Contains(f[0], "/") && !strings.ContainsAny(f[0], "$`'\"*?;&|<>(){}") {
				prog = f[0]
			}
		}
		if prog == "" {
			continue
		}
		if _, err := exec.LookPath(prog); err != nil {
			where := c.where(key)
			if where == "" {
				where = c.where(fmt.Sprintf("hooks[%d]", i))
			}
			msg := fmt.Sprintf("%s: %s: %s is not an executable file for this user (%v): the agent starts, and the hook fails when it runs", where, key, prog, errors.Unwrap(err))
			out = append(out, strings.TrimPrefix(msg, ": "))
		}
	}
	return out
}
