package agent

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/rs/zerolog"

	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/probes"
)

// Reloader reads the configuration again the way it was read at start:
// the same files, environment and flags, validated.
type Reloader func() (Config, error)

// SetReloader sets how Reload reads the configuration. Without one, Reload
// fails.
func (a *Agent) SetReloader(r Reloader) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	a.reloader = r
}

// restartOnly lists the settings a reload cannot change in a running agent.
var restartOnly = []struct {
	key string
	get func(*Config) any
}{
	{"name", func(c *Config) any { return c.Name }},
	{"bind", func(c *Config) any { return c.Bind }},
	{"advertise", func(c *Config) any { return c.Advertise }},
	{"http", func(c *Config) any { return c.HTTP }},
	// The API's token, names and caps are its server's and listener's;
	// hooks' base environment (hook_http_token) is their runner's.
	{"http_token", func(c *Config) any { return c.HTTPToken }},
	{"http_tls_cert", func(c *Config) any { return c.HTTPTLSCert }},
	{"http_tls_key", func(c *Config) any { return c.HTTPTLSKey }},
	{"http_allowed_hosts", func(c *Config) any { return c.HTTPAllowedHosts }},
	{"http_max_connections", func(c *Config) any { return c.HTTPMaxConnections }},
	{"http_max_streams", func(c *Config) any { return c.HTTPMaxStreams }},
	// The DNS server's address, zone, TTL and cap are its listeners' and
	// server's.
	{"dns", func(c *Config) any { return c.DNS }},
	{"dns_domain", func(c *Config) any { return c.DNSDomain }},
	{"dns_ttl", func(c *Config) any { return c.DNSTTL }},
	{"dns_max_connections", func(c *Config) any { return c.DNSMaxConnections }},
	{"consul_http", func(c *Config) any { return c.ConsulHTTP }},
	{"consul_datacenter", func(c *Config) any { return c.ConsulDatacenter }},
	{"consul_http_max_connections", func(c *Config) any { return c.ConsulHTTPMaxConnections }},
	{"hook_http_token", func(c *Config) any { return c.HookHTTPToken }},
	{"profile", func(c *Config) any { return c.Profile }},
	{"cluster_name", func(c *Config) any { return c.ClusterName }},
	{"gossip_compression", func(c *Config) any { return c.GossipCompression }},
	{"data_dir", func(c *Config) any { return c.DataDir }},
	{"join_interval", func(c *Config) any { return c.JoinInterval }},
	{"join_sync_rounds", func(c *Config) any { return c.JoinSyncRounds }},
	{"confirm_failures", func(c *Config) any { return c.ConfirmFailures }},
	{"confirm_timeout", func(c *Config) any { return c.ConfirmTimeout }},
	{"hook_max_concurrent", func(c *Config) any { return c.HookMaxConcurrent }},
	{"hook_coalesce", func(c *Config) any { return c.HookCoalesce }},
	{"log_format", func(c *Config) any { return c.LogFormat }},
	{"failover", func(c *Config) any { return c.Failover }},
	// The timing overrides are memberlist's and serf's start-time
	// configuration (timing.go).
	{"probe_interval", func(c *Config) any { return c.ProbeInterval }},
	{"probe_timeout", func(c *Config) any { return c.ProbeTimeout }},
	{"suspicion_mult", func(c *Config) any { return c.SuspicionMult }},
	{"gossip_interval", func(c *Config) any { return c.GossipInterval }},
	{"gossip_nodes", func(c *Config) any { return c.GossipNodes }},
	{"retransmit_mult", func(c *Config) any { return c.RetransmitMult }},
	{"reconnect_interval", func(c *Config) any { return c.ReconnectInterval }},
	{"reconnect_timeout", func(c *Config) any { return c.ReconnectTimeout }},
}

// Reload re-reads the configuration and applies what a running agent can
// change: hooks, checks, service, tags and log level, without leaving the
// cluster. Runs in flight finish, no hook fires twice or for a past event,
// removed checks stop, and checks that did not change keep their status. A
// configuration that fails validation changes nothing and is returned as
// the error. Settings that need a restart are named in the result.
func (a *Agent) Reload() (vigilhttp.ReloadResult, error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.reloader == nil {
		return vigilhttp.ReloadResult{}, errors.New("this agent cannot reload its configuration")
	}
	next, err := a.reloader()
	if err != nil {
		a.log.Error().Err(err).Msg("reload refused: the configuration has errors; the running one stays")
		return vigilhttp.ReloadResult{}, err
	}
	hooks, err := next.buildHooks()
	if err != nil {
		return vigilhttp.ReloadResult{}, err
	}
	if next.Dev {
		hooks = append(hooks, devHook(a.log))
	}
	var res vigilhttp.ReloadResult
	for _, r := range restartOnly {
		if !reflect.DeepEqual(r.get(&a.cfg), r.get(&next)) {
			res.NeedsRestart = append(res.NeedsRestart, r.key)
		}
	}
	hr, err := a.runner.Reload(hooks)
	if err != nil {
		return vigilhttp.ReloadResult{}, err
	}
	res.HooksAdded, res.HooksChanged, res.HooksRemoved = hr.Added, hr.Changed, hr.Removed
	a.reloadUserEventLimit(&next)
	if res.ChecksChanged, err = a.reloadService(&next); err != nil {
		return res, err
	}
	if level, err := zerolog.ParseLevel(next.LogLevel); err == nil && next.LogLevel != a.cfg.LogLevel {
		zerolog.SetGlobalLevel(level)
		a.cfg.LogLevel = next.LogLevel
		res.LogLevel = next.LogLevel
	}
	a.cfg.Hooks, a.cfg.HookSpecs, a.cfg.HookTimeout = next.Hooks, next.HookSpecs, next.HookTimeout
	a.log.Info().Strs("hooks_added", res.HooksAdded).Strs("hooks_changed", res.HooksChanged).
		Strs("hooks_removed", res.HooksRemoved).Bool("checks_changed", res.ChecksChanged).
		Strs("needs_restart", res.NeedsRestart).Msg("configuration reloaded")
	return res, nil
}

// reloadService applies new tags, service and checks. The checks restart
// only when their definitions changed; an unchanged check starts from the
// status it had, so a reload does not flip the service's health.
func (a *Agent) reloadService(next *Config) (bool, error) {
	a.health.mu.Lock()
	old := a.probes
	oldDefs := a.cfg.checkDefinitions()
	newDefs := next.checkDefinitions()
	changed := !reflect.DeepEqual(oldDefs, newDefs) || (a.cfg.Service == nil) != (next.Service == nil)
	var pm *probes.Manager
	if changed && next.Service != nil {
		status := map[string]probes.Status{}
		if old != nil {
			for _, st := range old.States() {
				status[st.ID] = st.Status
			}
		}
		same := map[string]bool{}
		for _, d := range oldDefs {
			for _, n := range newDefs {
				if reflect.DeepEqual(d, n) {
					same[d.ID] = true
				}
			}
		}
		for i := range newDefs {
			if s, ok := status[newDefs[i].ID]; ok && same[newDefs[i].ID] {
				newDefs[i].InitialStatus = s
			}
		}
		var err error
		if pm, err = probes.NewManager(newDefs, a.onCheckChange, a.log); err != nil {
			a.health.mu.Unlock()
			return false, fmt.Errorf("checks: %w", err)
		}
		pm.RedactOutput(a.redactToken)
	}
	a.cfg.Tags, a.cfg.Service = next.Tags, next.Service
	a.cfg.Drain = next.Drain // read under health.mu by drainBeforeLeave
	a.cfg.Checks, a.cfg.flagChecks, a.cfg.CheckInterval = next.Checks, next.flagChecks, next.CheckInterval
	if changed {
		a.probes = pm
	}
	a.health.gossiped = "" // gossip the tags again below, whatever changed
	a.health.mu.Unlock()
	if changed {
		if old != nil {
			old.Stop()
		}
		if pm != nil {
			pm.Start()
		}
	}
	a.pushTags()
	return changed, nil
}

// pushTags gossips the current tags, service and health.
func (a *Agent) pushTags() {
	a.health.mu.Lock()
	defer a.health.mu.Unlock()
	c := a.cluster.Load()
	if c == nil {
		return
	}
	h := a.localHealth()
	if err := c.SetTags(a.cfg.gossipTags(h, a.health.seq+1)); err != nil {
		a.log.Error().Err(err).Msg("could not gossip the reloaded tags")
		return
	}
	a.health.gossiped = h
	a.health.seq++
}
