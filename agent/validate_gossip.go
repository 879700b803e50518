package agent

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/membership"
)

// validateGossipInput checks what this agent gossips and listens for
// against the limits every agent enforces on gossip input
// (membership.CheckName, CheckTags, CheckEventName): the member name,
// the tags, the service's tags and address, and the user event names of
// hook filters. A member that broke them would be refused by its peers.
func (c *Config) validateGossipInput() ConfigErrors {
	var errs ConfigErrors
	add := func(key string, err error) {
		errs = append(errs, &ConfigError{Where: c.where(key), Key: key, Msg: err.Error()})
	}
	if c.Name != "" { // an empty name is reported by Validate
		if err := membership.CheckName(c.Name); err != nil {
			add("name", err)
		}
	}
	if err := membership.CheckTags(c.Tags); err != nil {
		add("tags", err)
	}
	if s := c.Service; s != nil {
		// The service's tags are gossiped with a prefix (svc:version).
		prefixed := make(map[string]string, len(s.Tags))
		for k, v := range s.Tags {
			prefixed[events.ServiceTagPrefix+k] = v
		}
		if err := membership.CheckTags(prefixed); err != nil {
			add("service.tags", err)
		}
		if err := membership.CheckTags(map[string]string{events.ServiceAddrTag: s.Address}); err != nil {
			add("service.address", err)
		}
		if err := membership.CheckTags(map[string]string{events.ServiceTag: s.Name}); err != nil {
			add("service.name", err)
		}
	}
	for i, hc := range c.Hooks {
		key := "hooks[" + strconv.Itoa(i) + "].on"
		for _, f := range hc.On {
			if err := checkUserFilter(f); err != nil {
				add(key, err)
			}
		}
	}
	for _, spec := range c.HookSpecs {
		// A -hook spec's filters are before its first '=' (events/hook's
		// ParseHookSpec).
		before, _, ok := strings.Cut(strings.TrimSpace(spec), "=")
		if !ok || strings.ContainsAny(before, " \t/") {
			continue
		}
		for _, f := range strings.Split(before, ",") {
			if err := checkUserFilter(f); err != nil {
				// Where -hook was given is recorded under hooks, as
				// buildHooks reports its specs.
				errs = append(errs, &ConfigError{Where: c.where("hooks"), Key: "hook", Msg: err.Error()})
			}
		}
	}
	return errs
}

// checkUserFilter returns an error when filter is user:NAME with a NAME
// no user event could have.
func checkUserFilter(filter string) error {
	name, ok := strings.CutPrefix(strings.TrimSpace(filter), string(events.User)+":")
	if !ok || name == "" {
		return nil // not a user filter, or one ParseFilter reports
	}
	if err := membership.CheckEventName(name); err != nil {
		return fmt.Errorf("event filter %s: %w", membership.QuoteShort(filter), err)
	}
	return nil
}
