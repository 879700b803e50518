package agent

import (
	"fmt"
	"strconv"
	"time"

	"github.com/vigil-agent/vigil/membership"
)

// Floors of the timing overrides.
const (
	// MinProbeInterval is the shortest probe_interval accepted: below it
	// a member spends its time probing, and any scheduling hiccup of the
	// host looks like a failure.
	MinProbeInterval = 100 * time.Millisecond
	// MinGossipInterval is the shortest gossip_interval accepted.
	MinGossipInterval = 10 * time.Millisecond
)

// timingOverrides returns the configured timing overrides; zero fields
// keep the profile's values.
func (c *Config) timingOverrides() membership.Timing {
	return membership.Timing{
		ProbeInterval:     time.Duration(c.ProbeInterval),
		ProbeTimeout:      time.Duration(c.ProbeTimeout),
		SuspicionMult:     c.SuspicionMult,
		GossipInterval:    time.Duration(c.GossipInterval),
		GossipNodes:       c.GossipNodes,
		RetransmitMult:    c.RetransmitMult,
		ReconnectInterval: time.Duration(c.ReconnectInterval),
		ReconnectTimeout:  time.Duration(c.ReconnectTimeout),
	}
}

// validateTiming checks the timing overrides: each one set must be
// positive (and above its floor), and the probe timeout, overridden or
// the profile's, must be shorter than the probe interval.
func (c *Config) validateTiming() ConfigErrors {
	var errs ConfigErrors
	add := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Where: c.where(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	// A key counts as set when it has a value or was written, even as 0.
	set := func(key string, nonZero bool) bool { return nonZero || c.where(key) != "" }
	for _, d := range []struct {
		key   string
		v     Duration
		floor time.Duration
	}{
		{"probe_interval", c.ProbeInterval, MinProbeInterval},
		{"probe_timeout", c.ProbeTimeout, 0},
		{"gossip_interval", c.GossipInterval, MinGossipInterval},
		{"reconnect_interval", c.ReconnectInterval, 0},
		{"reconnect_timeout", c.ReconnectTimeout, 0},
	} {
		switch {
		case !set(d.key, d.v != 0):
		case d.v <= 0:
			add(d.key, "%s: must be positive (leave it out to keep the profile's value)", d.v)
		case time.Duration(d.v) < d.floor:
			add(d.key, "%s: below the %s minimum", d.v, d.floor)
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{
		{"suspicion_mult", c.SuspicionMult},
		{"gossip_nodes", c.GossipNodes},
		{"retransmit_mult", c.RetransmitMult},
	} {
		if set(n.key, n.v != 0) && n.v <= 0 {
			add(n.key, "%d: must be positive (leave it out to keep the profile's value)", n.v)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	eff, err := membership.EffectiveTiming(membership.Profile(c.Profile), c.timingOverrides())
	if err != nil {
		return nil // an unknown profile is reported on its own
	}
	if eff.ProbeTimeout >= eff.ProbeInterval {
		origin := func(key string) string {
			if w := c.where(key); w != "" {
				return w
			}
			return "the " + c.Profile + " profile's"
		}
		if c.ProbeTimeout > 0 {
			add("probe_timeout", "%s must be shorter than probe_interval (%s, %s)",
				eff.ProbeTimeout, eff.ProbeInterval, origin("probe_interval"))
		} else {
			add("probe_interval", "%s must be longer than probe_timeout (%s, %s): set a shorter probe_timeout too",
				eff.ProbeInterval, eff.ProbeTimeout, origin("probe_timeout"))
		}
	}
	return errs
}

// durationOption is an Option that sets a Duration field.
func durationOption(flag, key, usage, def string, field func(*Config) *Duration) *Option {
	return &Option{Flag: flag, Key: key, Usage: usage, Default: def,
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration: write it with a unit, like \"500ms\"", v)
			}
			*field(c) = Duration(d)
			return nil
		}}
}

// intOption is an Option that sets an int field.
func intOption(flag, key, usage, def string, field func(*Config) *int) *Option {
	return &Option{Flag: flag, Key: key, Usage: usage, Default: def,
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%q is not a whole number", v)
			}
			*field(c) = n
			return nil
		}}
}

// Timing returns the gossip timings the agent runs with (its profile's,
// with the configured overrides), or, before Run started gossip, the
// timings it will run with.
func (a *Agent) Timing() membership.Timing {
	if c := a.cluster.Load(); c != nil {
		return c.Timing()
	}
	t, _ := membership.EffectiveTiming(membership.Profile(a.cfg.Profile), a.cfg.timingOverrides())
	return t
}
