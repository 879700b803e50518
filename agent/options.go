package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	vigildns "github.com/vigil-agent/vigil/dns"
	"github.com/vigil-agent/vigil/events/hook"
	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/membership"
	"github.com/vigil-agent/vigil/probes"
)

// Option is one setting that a flag and a VIGIL_* environment variable can
// set. The command line builds its flags from Options, so flags, env and
// the file share one schema.
type Option struct {
	// Flag is the flag's name (without dash); the env var is VIGIL_ and the
	// name upper-cased with - as _.
	Flag string
	// Key is the config file key it sets.
	Key string
	// Usage is the flag's help text.
	Usage string
	// Default is shown in help.
	Default string
	// Repeatable flags may be given more than once; their env var holds a
	// comma-separated list (VIGIL_HOOK: one spec per line).
	Repeatable bool
	// Bool options take no value.
	Bool bool
	// set applies one value.
	set func(c *Config, v string) error
}

// EnvVar returns the option's environment variable name.
func (o *Option) EnvVar() string {
	return "VIGIL_" + strings.ToUpper(strings.ReplaceAll(o.Flag, "-", "_"))
}

// Options lists the agent's flags in help order.
var Options = []*Option{
	{Flag: "name", Key: "name", Usage: "node name, unique in the cluster", Default: "hostname",
		set: func(c *Config, v string) error { c.Name = v; return nil }},
	{Flag: "bind", Key: "bind", Usage: "gossip address HOST:PORT (TCP and UDP)", Default: DefaultBind,
		set: func(c *Config, v string) error { c.Bind = v; return nil }},
	{Flag: "advertise", Key: "advertise", Usage: "address HOST:PORT peers are told to reach",
		set: func(c *Config, v string) error { c.Advertise = v; return nil }},
	{Flag: "http", Key: "http", Usage: "local HTTP API address HOST:PORT", Default: DefaultHTTP,
		set: func(c *Config, v string) error { c.HTTP = v; return nil }},
	{Flag: "http-token", Key: "http_token", Usage: "token required as \"Authorization: Bearer TOKEN\" on the HTTP API's POST and PUT requests (needed to bind -http off loopback; prefer the env var: ps shows flags)",
		set: func(c *Config, v string) error { c.HTTPToken = v; return nil }},
	{Flag: "http-allowed-host", Key: "http_allowed_hosts", Usage: "a name the HTTP API answers as Host (and a page's Origin may carry), besides loopback and its listen address (repeatable)", Repeatable: true,
		set: func(c *Config, v string) error {
			if v = strings.TrimSpace(v); v != "" {
				c.HTTPAllowedHosts = append(c.HTTPAllowedHosts, v)
			}
			return nil
		}},
	intOption("http-max-connections", "http_max_connections", "open HTTP API connections at most; one more is answered 503", strconv.Itoa(vigilhttp.DefaultMaxConnections),
		func(c *Config) *int { return &c.HTTPMaxConnections }),
	intOption("http-max-streams", "http_max_streams", "open event streams (vigil monitor) at most; one more is answered 429", strconv.Itoa(vigilhttp.DefaultMaxStreams),
		func(c *Config) *int { return &c.HTTPMaxStreams }),
	{Flag: "http-tls-cert", Key: "http_tls_cert", Usage: "PEM certificate file: serve the HTTP API over HTTPS (with -http-tls-key)",
		set: func(c *Config, v string) error { c.HTTPTLSCert = v; return nil }},
	{Flag: "http-tls-key", Key: "http_tls_key", Usage: "PEM private key file of -http-tls-cert",
		set: func(c *Config, v string) error { c.HTTPTLSKey = v; return nil }},
	{Flag: "dns", Key: "dns", Usage: "DNS address HOST:PORT (UDP and TCP) answering NAME.service.vigil and NODE.node.vigil; \"\" turns DNS off", Default: vigildns.DefaultAddr,
		set: func(c *Config, v string) error { c.DNS = v; return nil }},
	{Flag: "dns-domain", Key: "dns_domain", Usage: "the DNS zone answered; other names are refused", Default: vigildns.DefaultDomain,
		set: func(c *Config, v string) error { c.DNSDomain = v; return nil }},
	durationOption("dns-ttl", "dns_ttl", "time to live of DNS records, whole seconds (0: not cached, a failed instance is gone at the next query)", "0s",
		func(c *Config) *Duration { return &c.DNSTTL }),
	intOption("dns-max-connections", "dns_max_connections", "open DNS TCP connections at most; one more is closed", strconv.Itoa(vigildns.DefaultMaxConnections),
		func(c *Config) *int { return &c.DNSMaxConnections }),
	{Flag: "consul-http", Key: "consul_http", Usage: "Consul-compatible read API address HOST:PORT (catalog, health, blocking queries), e.g. 127.0.0.1:8500; off unless set",
		set: func(c *Config, v string) error { c.ConsulHTTP = v; return nil }},
	{Flag: "consul-datacenter", Key: "consul_datacenter", Usage: "datacenter name the Consul API reports and accepts in ?dc=", Default: "dc1",
		set: func(c *Config, v string) error { c.ConsulDatacenter = v; return nil }},
	intOption("consul-http-max-connections", "consul_http_max_connections", "open Consul API connections (blocking queries hold one each) at most; one more is answered 503", strconv.Itoa(vigilhttp.DefaultMaxConnections),
		func(c *Config) *int { return &c.ConsulHTTPMaxConnections }),
	{Flag: "cluster-name", Key: "cluster_name", Usage: "name sent with every gossip packet; gossip from agents with another name (or none) is dropped, keeping clusters apart",
		set: func(c *Config, v string) error { c.ClusterName = v; return nil }},
	{Flag: "gossip-compression", Key: "gossip_compression", Usage: "compress gossip packets and push/pulls (LZW, as serf agent does): fewer bytes, more CPU", Bool: true, Default: "false",
		set: func(c *Config, v string) error {
			b, err := ParseBool(v)
			c.GossipCompression = b
			return err
		}},
	{Flag: "encrypt", Key: "encrypt", Usage: "gossip encryption key, base64 of 16, 24 or 32 bytes (vigil keygen makes one; data_dir/keyring wins once it exists)",
		set: func(c *Config, v string) error { c.Encrypt = v; return nil }},
	{Flag: "join", Key: "join", Usage: "HOST:PORT of a member to join at start, retried in the background (repeatable)", Repeatable: true,
		set: func(c *Config, v string) error {
			if v = strings.TrimSpace(v); v != "" {
				c.Join = append(c.Join, v)
			}
			return nil
		}},
	durationOption("join-interval", "join_interval", "how often the join addresses are resolved again and any that is not a member joined (0: only at start)", "30s",
		func(c *Config) *Duration { return &c.JoinInterval }),
	intOption("join-sync-rounds", "join_sync_rounds", "rounds of full state syncs with two random members after a join or rejoin, until the view settles (0: off)", strconv.Itoa(membership.DefaultJoinSyncRounds),
		func(c *Config) *int { return &c.JoinSyncRounds }),
	{Flag: "confirm-failures", Key: "confirm_failures", Usage: "check a member serf declared failed (a ping, and up to 3 members' pings) before reporting it: one that answers is reported refuted, not failed", Bool: true, Default: "true",
		set: func(c *Config, v string) error {
			b, err := ParseBool(v)
			c.ConfirmFailures = b
			return err
		}},
	durationOption("confirm-timeout", "confirm_timeout", "how long the confirmation of a failure waits for an answer: every real failure is reported that much later", "profile's probe timeout",
		func(c *Config) *Duration { return &c.ConfirmTimeout }),
	{Flag: "tag", Key: "tags", Usage: "tag KEY=VALUE gossiped with this member (repeatable)", Repeatable: true,
		set: func(c *Config, v string) error {
			k, val, ok := strings.Cut(strings.TrimSpace(v), "=")
			if !ok || k == "" {
				return fmt.Errorf("tag %q: want KEY=VALUE", v)
			}
			if c.Tags == nil {
				c.Tags = map[string]string{}
			}
			c.Tags[k] = val
			return nil
		}},
	{Flag: "profile", Key: "profile", Usage: "gossip timing profile: lan, wan, local or fast", Default: DefaultProfile,
		set: func(c *Config, v string) error { c.Profile = v; return nil }},
	durationOption("probe-interval", "probe_interval", "how often to probe a member, over the profile's (100ms at least)", "profile's",
		func(c *Config) *Duration { return &c.ProbeInterval }),
	durationOption("probe-timeout", "probe_timeout", "how long a probe waits for an ack, over the profile's (shorter than the probe interval)", "profile's",
		func(c *Config) *Duration { return &c.ProbeTimeout }),
	intOption("suspicion-mult", "suspicion_mult", "suspicion timeout multiplier, over the profile's", "profile's",
		func(c *Config) *int { return &c.SuspicionMult }),
	durationOption("gossip-interval", "gossip_interval", "how often to gossip, over the profile's (10ms at least)", "profile's",
		func(c *Config) *Duration { return &c.GossipInterval }),
	intOption("gossip-nodes", "gossip_nodes", "members reached per gossip round, over the profile's", "profile's",
		func(c *Config) *int { return &c.GossipNodes }),
	intOption("retransmit-mult", "retransmit_mult", "gossip retransmission multiplier, over the profile's", "profile's",
		func(c *Config) *int { return &c.RetransmitMult }),
	durationOption("reconnect-interval", "reconnect_interval", "how often to try reconnecting to failed members", "30s",
		func(c *Config) *Duration { return &c.ReconnectInterval }),
	durationOption("reconnect-timeout", "reconnect_timeout", "how long failed members are retried before they are reaped", "24h",
		func(c *Config) *Duration { return &c.ReconnectTimeout }),
	{Flag: "data-dir", Key: "data_dir", Usage: "directory for the serf snapshot, so a restart rejoins without -join",
		set: func(c *Config, v string) error { c.DataDir = v; return nil }},
	{Flag: "hook", Key: "hooks", Usage: "serf-style hook [FILTER,...=]SCRIPT, run by /bin/sh -c with serf's stdin (repeatable)", Repeatable: true,
		set: func(c *Config, v string) error { c.HookSpecs = append(c.HookSpecs, v); return nil }},
	{Flag: "hook-http-token", Key: "hook_http_token", Usage: "give hooks the HTTP API token as VIGIL_HTTP_TOKEN", Bool: true, Default: "false",
		set: func(c *Config, v string) error {
			b, err := ParseBool(v)
			c.HookHTTPToken = b
			return err
		}},
	{Flag: "hook-timeout", Key: "hook_timeout", Usage: "timeout of hooks without their own", Default: "60s",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration: write it with a unit, like \"30s\"", v)
			}
			c.HookTimeout = Duration(d)
			return nil
		}},
	intOption("hook-max-concurrent", "hook_max_concurrent", "hook processes running at once at most, over all hooks; more wait for a slot (0: no limit)", "2 × CPUs, at least 4",
		func(c *Config) *int { return &c.HookMaxConcurrent }),
	durationOption("hook-coalesce", "hook_coalesce", "at most one member-failed run per hook in this window: the first failure runs at once, later ones within the window together, every member on stdin (0: one run per event, at once)", hook.DefaultCoalesceWindow.String(),
		func(c *Config) *Duration { return &c.HookCoalesce }),
	floatOption("user-event-rate", "user_event_rate", "user events of one name per second, on average, that run hooks and may be fired here (0: no limit)", strconv.FormatFloat(hook.DefaultUserEventRate, 'f', -1, 64),
		func(c *Config) *float64 { return &c.UserEventRate }),
	intOption("user-event-burst", "user_event_burst", "user events of one name that may come at once before -user-event-rate applies", strconv.Itoa(hook.DefaultUserEventBurst),
		func(c *Config) *int { return &c.UserEventBurst }),
	{Flag: "service", Key: "service", Usage: "the service beside this agent, NAME:PORT",
		set: func(c *Config, v string) error {
			name, port, ok := strings.Cut(v, ":")
			p, err := strconv.Atoi(port)
			if !ok || name == "" || err != nil {
				return fmt.Errorf("service %q: want NAME:PORT, like web:8080", v)
			}
			if c.Service == nil {
				c.Service = &ServiceConfig{}
			}
			c.Service.Name, c.Service.Port = name, p
			return nil
		}},
	durationOption("drain", "drain", "on SIGTERM, keep the service in maintenance this long before leaving (needs -service)", "0s",
		func(c *Config) *Duration { return &c.Drain }),
	{Flag: "check-http", Key: "checks", Usage: "HTTP check of the service: 2xx passing, 429 warning, else critical",
		set: func(c *Config, v string) error {
			c.Checks = append(c.Checks, probes.Definition{ID: "http", HTTP: v})
			c.flagChecks = append(c.flagChecks, len(c.Checks)-1)
			return nil
		}},
	{Flag: "check-tcp", Key: "checks", Usage: "TCP check of the service, HOST:PORT: passing when it connects",
		set: func(c *Config, v string) error {
			c.Checks = append(c.Checks, probes.Definition{ID: "tcp", TCP: v})
			c.flagChecks = append(c.flagChecks, len(c.Checks)-1)
			return nil
		}},
	{Flag: "check-interval", Key: "check_interval", Usage: "interval of -check-http and -check-tcp (1s at least)", Default: "10s",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration: write it with a unit, like \"5s\"", v)
			}
			c.CheckInterval = Duration(d)
			return nil
		}},
	{Flag: "log-level", Key: "log_level", Usage: "trace, debug, info, warn or error", Default: "info",
		set: func(c *Config, v string) error { c.LogLevel = v; return nil }},
	{Flag: "log-format", Key: "log_format", Usage: "json or console (default: console on a terminal, json otherwise)",
		set: func(c *Config, v string) error { c.LogFormat = v; return nil }},
}

// ApplyOption sets one option's value, noting where it came from.
func (c *Config) ApplyOption(o *Option, value, source string) error {
	if err := o.set(c, value); err != nil {
		return &ConfigError{Where: source, Key: o.Key, Msg: err.Error()}
	}
	c.setBy(o.Key, source)
	return nil
}

// ApplyEnv applies every VIGIL_* variable that lookup finds.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	var errs ConfigErrors
	for _, o := range Options {
		v, ok := lookup(o.EnvVar())
		if !ok {
			continue
		}
		values := []string{v}
		if o.Repeatable {
			sep := ","
			if o.Flag == "hook" {
				sep = "\n"
			}
			values = strings.Split(v, sep)
		}
		for _, one := range values {
			if o.Repeatable && strings.TrimSpace(one) == "" {
				continue
			}
			if err := c.ApplyOption(o, one, o.EnvVar()); err != nil {
				errs = append(errs, err.(*ConfigError))
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// ParseBool parses a boolean env value such as VIGIL_DEV=1.
func ParseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%q is not true or false", v)
	}
	return b, nil
}
