package agent

import (
	"fmt"
	"net"
	"strings"

	vigilconsul "github.com/vigil-agent/vigil/consul"
	"github.com/vigil-agent/vigil/events"
	vigilhttp "github.com/vigil-agent/vigil/http"
)

// validateConsul checks consul_http, consul_datacenter and
// consul_http_max_connections.
func (c *Config) validateConsul() ConfigErrors {
	var errs ConfigErrors
	add := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Where: c.where(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.ConsulHTTP != "" {
		if _, _, err := splitHostPort(c.ConsulHTTP); err != nil {
			add("consul_http", "%v (or \"\" for none)", err)
		}
	}
	dc := c.ConsulDatacenter
	if dc == "" || len(dc) > 64 || strings.ContainsFunc(dc, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		add("consul_datacenter", "%q: want 1 to 64 letters, digits, '-' or '_'", dc)
	}
	if c.ConsulHTTPMaxConnections < 1 {
		add("consul_http_max_connections", "%d: must be at least 1", c.ConsulHTTPMaxConnections)
	}
	return errs
}

// consulSource answers the Consul API from the agent's member list.
type consulSource struct{ a *Agent }

// Instances implements vigilconsul.Source: every member offering a
// service, its own tags (vigil's excepted) as the node's meta.
func (s consulSource) Instances() []vigilconsul.Instance {
	var out []vigilconsul.Instance
	for _, m := range s.a.Members() {
		name := m.Tags[events.ServiceTag]
		if name == "" {
			continue
		}
		o := serviceOf(m)
		meta := map[string]string{}
		for k, v := range m.Tags {
			if !strings.HasPrefix(k, events.ServiceTagPrefix) && !reservedTag(k) {
				meta[k] = v
			}
		}
		out = append(out, vigilconsul.Instance{Service: name, Node: m.Name, NodeAddr: m.Addr, NodeMeta: meta,
			Addr: o.Addr, Port: o.Port, Tags: o.Tags, Health: o.Health, Status: m.Status})
	}
	return out
}

// Self implements vigilconsul.Source.
func (s consulSource) Self() vigilconsul.Self {
	m := s.a.selfMember()
	meta := map[string]string{}
	for k, v := range m.Tags {
		if !reservedTag(k) {
			meta[k] = v
		}
	}
	return vigilconsul.Self{Name: m.Name, Addr: m.Addr, Port: int(m.Port), Tags: meta, Version: s.a.version}
}

// listenConsul opens consul_http (nil, nil when it is off), capped at
// consul_http_max_connections.
func (a *Agent) listenConsul() (net.Listener, error) {
	if a.cfg.ConsulHTTP == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", a.cfg.ConsulHTTP)
	if err != nil {
		return nil, fmt.Errorf("consul_http: %w", err)
	}
	if host, _, _ := splitHostPort(a.cfg.ConsulHTTP); !isLoopbackHost(host) {
		a.log.Warn().Str("consul_http", ln.Addr().String()).
			Msg("the Consul API listens off loopback: whoever reaches it can list the services, nodes and their addresses")
	}
	return vigilhttp.LimitListener(ln, a.cfg.ConsulHTTPMaxConnections, nil), nil
}

// serveConsul answers the Consul API on ln until stopConsul.
func (a *Agent) serveConsul(ln net.Listener) {
	srv := vigilconsul.New(consulSource{a}, vigilconsul.Config{
		Datacenter: a.cfg.ConsulDatacenter, AllowedHosts: a.cfg.HTTPAllowedHosts,
	}, a.log)
	a.consul.set(srv, ln.Addr().String())
	a.log.Info().Str("consul_http", ln.Addr().String()).Str("datacenter", a.cfg.ConsulDatacenter).Msg("Consul API listening")
	go func() {
		if err := srv.Serve(ln); err != nil {
			a.log.Error().Err(err).Str("consul_http", ln.Addr().String()).Msg("Consul API stopped")
		}
	}()
}

// stopConsul stops the Consul API, ending its blocking queries.
func (a *Agent) stopConsul() { a.consul.stop(a.log, "consul http") }

// ConsulAddr returns the address the Consul API answers on ("" while it
// does not), once Run started.
func (a *Agent) ConsulAddr() string { return a.consul.Addr() }
