package agent

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/membership"
	"github.com/vigil-agent/vigil/probes"
)

var serviceNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// reservedTag reports whether a user tag key is one vigil uses to gossip
// the service.
func reservedTag(k string) bool {
	switch k {
	case events.ServiceTag, events.ServicePortTag, events.ServiceAddrTag, events.HealthTag, events.BootTag, events.HealthSeqTag, events.EpochTag:
		return true
	}
	return strings.HasPrefix(k, events.ServiceTagPrefix)
}

// checkDefinitions returns the checks with defaults, -check-interval
// applied to the checks made by flags.
func (c *Config) checkDefinitions() []probes.Definition {
	defs := make([]probes.Definition, len(c.Checks))
	copy(defs, c.Checks)
	for _, i := range c.flagChecks {
		defs[i].Interval = probes.Duration(c.CheckInterval)
	}
	for i := range defs {
		defs[i] = defs[i].WithDefaults()
	}
	return defs
}

// validateService checks the names and tags the agent gossips
// (validateGossipInput), the service, its checks and the tags they make.
func (c *Config) validateService() ConfigErrors {
	errs := c.validateGossipInput()
	add := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Where: c.where(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for k := range c.Tags {
		if reservedTag(k) {
			add("tags", "tag %q is reserved: vigil gossips the service with it", k)
		}
	}
	if c.Service == nil {
		if len(c.Checks) > 0 {
			add("checks", "checks need a service: set service (name, port) or -service NAME:PORT")
		}
		return errs
	}
	s := c.Service
	if !serviceNameRe.MatchString(s.Name) {
		add("service.name", "%q: want letters, digits, '.', '_' or '-'", s.Name)
	}
	if s.Port < 1 || s.Port > 65535 {
		add("service.port", "%d: want a port from 1 to 65535", s.Port)
	}
	if time.Duration(c.CheckInterval) < time.Second {
		add("check_interval", "%s: below the 1s minimum", c.CheckInterval)
	}
	seen := map[string]bool{}
	for i, d := range c.checkDefinitions() {
		key := "checks[" + strconv.Itoa(i) + "]"
		if err := d.Validate(); err != nil {
			add(key, "%v", err)
			continue
		}
		if seen[d.ID] {
			add(key+".id", "check id %q is used twice", d.ID)
		}
		seen[d.ID] = true
	}
	if err := membership.CheckTagsSize(c.gossipTags(events.HealthMaintenance, 1<<30)); err != nil {
		add("tags", "tags with the service's: %v", err)
	}
	return errs
}

// gossipTags returns the member's serf tags: the configured tags with the
// runtime ones over them, plus the service's name, port, address, tags and
// the given health.
func (c *Config) gossipTags(health events.HealthStatus, healthSeq int) map[string]string {
	tags := c.runtime.apply(c.Tags)
	tags[events.BootTag] = c.boot
	if c.Service == nil {
		return tags
	}
	tags[events.HealthSeqTag] = strconv.Itoa(healthSeq)
	tags[events.ServiceTag] = c.Service.Name
	tags[events.ServicePortTag] = strconv.Itoa(c.Service.Port)
	if c.Service.Address != "" {
		tags[events.ServiceAddrTag] = c.Service.Address
	}
	for k, v := range c.Service.Tags {
		tags[events.ServiceTagPrefix+k] = v
	}
	tags[events.HealthTag] = string(health)
	return tags
}
