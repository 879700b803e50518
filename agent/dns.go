package agent

import (
	"fmt"
	"net"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	vigildns "github.com/vigil-agent/vigil/dns"
	"github.com/vigil-agent/vigil/events"
)

// MaxDNSTTL is dns_ttl's largest value.
const MaxDNSTTL = time.Hour

// validateDNS checks dns, dns_domain, dns_ttl and dns_max_connections.
func (c *Config) validateDNS() ConfigErrors {
	var errs ConfigErrors
	add := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Where: c.where(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.DNS != "" {
		if _, _, err := splitHostPort(c.DNS); err != nil {
			add("dns", "%v (or \"\" to turn DNS off)", err)
		}
	}
	if msg := dnsDomainProblem(c.DNSDomain); msg != "" {
		add("dns_domain", "%q: %s", c.DNSDomain, msg)
	}
	if d := time.Duration(c.DNSTTL); d < 0 || d > MaxDNSTTL || d%time.Second != 0 {
		add("dns_ttl", "%s: want whole seconds from 0 to %s", c.DNSTTL, MaxDNSTTL)
	}
	if c.DNSMaxConnections < 1 {
		add("dns_max_connections", "%d: must be at least 1", c.DNSMaxConnections)
	}
	return errs
}

// dnsDomainProblem says what is wrong with a dns_domain, or "".
func dnsDomainProblem(d string) string {
	fq := mdns.Fqdn(strings.TrimSpace(d))
	if fq == "." {
		return "want a domain such as vigil. or cluster.internal.: the root would take every name"
	}
	if _, ok := mdns.IsDomainName(fq); !ok || strings.ContainsAny(fq, `\ `) {
		return "not a domain name"
	}
	for _, label := range strings.Split(strings.TrimSuffix(fq, "."), ".") {
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return "want labels of letters, digits, '-' and '_'"
			}
		}
	}
	return ""
}

// dnsSource answers the DNS server from the agent's member list.
type dnsSource struct{ a *Agent }

// Instances implements vigildns.Source.
func (s dnsSource) Instances(service string) []vigildns.Instance {
	var out []vigildns.Instance
	for _, m := range s.a.Members() {
		if !strings.EqualFold(m.Tags[events.ServiceTag], service) {
			continue
		}
		o := serviceOf(m)
		out = append(out, vigildns.Instance{Node: m.Name, NodeAddr: m.Addr, Addr: o.Addr, Port: o.Port, Tags: o.Tags, Passing: o.Passing})
	}
	return out
}

// Node implements vigildns.Source.
func (s dnsSource) Node(name string) (vigildns.Node, bool) {
	var folded *events.Member
	members := s.a.Members()
	for i, m := range members {
		if m.Name == name {
			return vigildns.Node{Name: m.Name, Addr: m.Addr, Alive: m.Status == events.StatusAlive}, true
		}
		if folded == nil && strings.EqualFold(m.Name, name) {
			folded = &members[i]
		}
	}
	if folded == nil {
		return vigildns.Node{}, false
	}
	return vigildns.Node{Name: folded.Name, Addr: folded.Addr, Alive: folded.Status == events.StatusAlive}, true
}

// dnsListeners are the DNS server's open sockets, between listenDNS and
// serveDNS.
type dnsListeners struct {
	pc net.PacketConn
	ln net.Listener
}

// listenDNS opens the dns address, before gossip starts, as the API's. A
// dns address set in the configuration that cannot be opened is an
// error; the default one, taken by another program (a Consul agent), is a
// warning, and the agent runs without DNS. nil, nil: DNS is off.
func (a *Agent) listenDNS() (*dnsListeners, error) {
	if a.cfg.DNS == "" {
		return nil, nil
	}
	pc, ln, err := vigildns.Listen(a.cfg.DNS)
	if err != nil {
		if a.cfg.where("dns") == "" {
			a.log.Warn().Err(err).Str("dns", a.cfg.DNS).
				Msg("DNS is off: its default address could not be opened; set dns to another address, or \"\" to say so")
			return nil, nil
		}
		return nil, fmt.Errorf("dns: %w", err)
	}
	if host, _, _ := splitHostPort(a.cfg.DNS); !isLoopbackHost(host) {
		a.log.Warn().Str("dns", ln.Addr().String()).
			Msg("DNS listens off loopback: whoever reaches it can list the services, nodes and their addresses")
	}
	return &dnsListeners{pc: pc, ln: ln}, nil
}

// serveDNS answers DNS on l until stopDNS.
func (a *Agent) serveDNS(l *dnsListeners) {
	srv := vigildns.New(dnsSource{a}, vigildns.Config{
		Domain: a.cfg.DNSDomain, TTL: time.Duration(a.cfg.DNSTTL), MaxConnections: a.cfg.DNSMaxConnections,
	}, a.log)
	a.dns.set(srv, l.ln.Addr().String())
	go func() {
		if err := srv.Serve(l.pc, l.ln); err != nil {
			a.log.Error().Err(err).Str("dns", l.ln.Addr().String()).Msg("DNS server stopped")
		}
	}()
}

// stopDNS stops the DNS server, if one runs.
func (a *Agent) stopDNS() { a.dns.stop(a.log, "dns") }

// DNSAddr returns the address the DNS server answers on ("" while it does
// not), once Run started: with port 0 in dns, the port picked.
func (a *Agent) DNSAddr() string { return a.dns.Addr() }
