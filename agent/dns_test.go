package agent

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/probes"
)

// dnsCluster starts three agents web-1..3 that join each other, each
// answering DNS on a port of its own and offering the service web (port
// 8081..8083, service address 127.0.0.N, tag role: primary on web-1,
// replica on the others) with a TTL check "ready" that starts critical.
// mutate, if set, changes each agent's configuration after that.
func dnsCluster(t *testing.T, mutate func(i int, c *Config)) []*testAgent {
	t.Helper()
	var agents []*testAgent
	for i := range 3 {
		a := startTestAgent(t, http.DefaultClient, func(c *Config) {
			c.Name = fmt.Sprintf("web-%d", i+1)
			c.DNS = "127.0.0.1:0"
			role := "replica"
			if i == 0 {
				role = "primary"
			}
			c.Service = &ServiceConfig{Name: "web", Port: 8081 + i, Address: fmt.Sprintf("127.0.0.%d", i+1), Tags: map[string]string{"role": role}}
			c.Checks = []probes.Definition{{ID: "ready", TTL: probes.Duration(time.Minute)}}
			if i > 0 {
				c.Join = []string{agents[0].cfg.Bind}
			}
			if mutate != nil {
				mutate(i, c)
			}
		})
		agents = append(agents, a)
	}
	waitUntil(t, 20*time.Second, "three agents to see each other", func() bool {
		for _, a := range agents {
			if len(alive(a.Members())) != 3 {
				return false
			}
		}
		return true
	})
	return agents
}

// dig asks the agent's DNS server over UDP, as dig does, and returns the
// rcode and what dig +short would print, sorted.
func dig(t *testing.T, a *testAgent, name string, qtype uint16) (string, []string) {
	t.Helper()
	m := new(mdns.Msg).SetQuestion(mdns.Fqdn(name), qtype)
	c := &mdns.Client{Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, a.DNSAddr())
	if err != nil {
		t.Fatalf("dig @%s %s %s: %v", a.DNSAddr(), name, mdns.TypeToString[qtype], err)
	}
	var short []string
	for _, rr := range r.Answer {
		short = append(short, strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String())))
	}
	sort.Strings(short)
	return mdns.RcodeToString[r.Rcode], short
}

// waitDNS waits until every agent's DNS answers name with rcode and
// exactly the records want (sorted), and returns how long it took.
func waitDNS(t *testing.T, agents []*testAgent, name string, qtype uint16, rcode string, want ...string) time.Duration {
	t.Helper()
	start := time.Now()
	var got []string
	var gotRcode string
	waitUntil(t, 20*time.Second, fmt.Sprintf("%s %s to answer %s %q", name, mdns.TypeToString[qtype], rcode, want), func() bool {
		for _, a := range agents {
			if gotRcode, got = dig(t, a, name, qtype); gotRcode != rcode || !slices.Equal(got, want) {
				return false
			}
		}
		return true
	})
	return time.Since(start)
}

// TestDNSFollowsHealth: the DNS answers of every agent of a real cluster
// follow the instances' health as their TTL checks fail and recover: A
// and SRV of the passing ones, an empty answer when none passes,
// NXDOMAIN for a service no member offers, the tag form, nodes.
func TestDNSFollowsHealth(t *testing.T) {
	agents := dnsCluster(t, nil)
	set := func(i int, status probes.Status) {
		t.Helper()
		if err := agents[i].UpdateTTL("ready", status, ""); err != nil {
			t.Fatal(err)
		}
	}

	// The TTL checks start critical: the service exists, nothing passes.
	waitDNS(t, agents, "web.service.vigil", mdns.TypeA, "NOERROR")
	waitDNS(t, agents, "nosuch.service.vigil", mdns.TypeA, "NXDOMAIN")

	for i := range agents {
		set(i, probes.Passing)
	}
	took := waitDNS(t, agents, "web.service.vigil", mdns.TypeA, "NOERROR", "127.0.0.1", "127.0.0.2", "127.0.0.3")
	t.Logf("all passing in every agent's answers %s after the last report", took.Round(time.Millisecond))
	waitDNS(t, agents, "web.service.vigil", mdns.TypeSRV, "NOERROR",
		"1 1 8081 web-1.node.vigil.", "1 1 8082 7f000002.addr.vigil.", "1 1 8083 7f000003.addr.vigil.")
	waitDNS(t, agents, "replica.web.service.vigil", mdns.TypeA, "NOERROR", "127.0.0.2", "127.0.0.3")
	waitDNS(t, agents, "primary.web.service.vigil", mdns.TypeA, "NOERROR", "127.0.0.1")

	// web-2 fails and comes back.
	set(1, probes.Critical)
	took = waitDNS(t, agents, "web.service.vigil", mdns.TypeA, "NOERROR", "127.0.0.1", "127.0.0.3")
	t.Logf("a failed instance left every agent's answers %s after its check failed", took.Round(time.Millisecond))
	set(1, probes.Passing)
	took = waitDNS(t, agents, "web.service.vigil", mdns.TypeA, "NOERROR", "127.0.0.1", "127.0.0.2", "127.0.0.3")
	t.Logf("it was back in every agent's answers %s after its check passed", took.Round(time.Millisecond))

	// Maintenance and warning are not passing either.
	if err := agents[0].SetMaintenance(true, "test"); err != nil {
		t.Fatal(err)
	}
	set(2, probes.Warning)
	waitDNS(t, agents, "web.service.vigil", mdns.TypeA, "NOERROR", "127.0.0.2")
	waitDNS(t, agents, "primary.web.service.vigil", mdns.TypeA, "NOERROR")
	set(1, probes.Critical)
	waitDNS(t, agents, "web.service.vigil", mdns.TypeSRV, "NOERROR")

	// Nodes answer with their gossip address while alive; a member that
	// left answers nothing.
	waitDNS(t, agents, "web-3.node.vigil", mdns.TypeA, "NOERROR", "127.0.0.1")
	if err := agents[2].Leave(); err != nil {
		t.Fatal(err)
	}
	waitDNS(t, agents[:2], "web-3.node.vigil", mdns.TypeA, "NOERROR")
	waitDNS(t, agents[:2], "nosuch.node.vigil", mdns.TypeA, "NXDOMAIN")
}

// TestDNSOffAndDefaults: dns "" opens nothing; the default address taken
// by another program leaves the agent running without DNS, while the
// same address set in the configuration stops it at start.
func TestDNSOffAndDefaults(t *testing.T) {
	off := startTestAgent(t, http.DefaultClient, func(c *Config) { c.DNS = "" })
	if off.DNSAddr() != "" {
		t.Errorf("dns \"\": DNS on %s", off.DNSAddr())
	}

	taken := startTestAgent(t, http.DefaultClient, func(c *Config) { c.DNS = "127.0.0.1:0" })
	busy := taken.DNSAddr()

	cfg := Default()
	cfg.Name = "node-default-dns"
	cfg.Bind = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.HTTP = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.DNS = busy // as if it were the default: where("dns") is empty
	logs := &syncBuffer{}
	a, err := New(cfg, zerolog.New(logs), "test")
	if err != nil {
		t.Fatal(err)
	}
	l, err := a.listenDNS()
	if err != nil || l != nil {
		t.Fatalf("default address taken: listeners %v, error %v; want neither", l, err)
	}
	if !strings.Contains(logs.String(), "DNS is off") {
		t.Errorf("no warning: %s", logs.String())
	}

	if err := cfg.ApplyOption(optionByFlag(t, "dns"), busy, "-dns"); err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg, zerolog.New(logs), "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "dns") {
		t.Errorf("Run with -dns %s taken: %v, want a dns error", busy, err)
	}
}

// TestValidateDNS: the dns keys' errors.
func TestValidateDNS(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"off", "dns: \"\"\n", ""},
		{"address", "dns: 127.0.0.1:53\ndns_domain: cluster.internal\ndns_ttl: 5s\ndns_max_connections: 8\n", ""},
		{"bad address", "dns: 8600\n", `dns: "8600": want HOST:PORT (or "" to turn DNS off)`},
		{"root domain", "dns_domain: .\n", "the root would take every name"},
		{"bad domain", "dns_domain: \"a b\"\n", "not a domain name"},
		{"domain with a star", "dns_domain: \"*.vigil\"\n", "want labels of letters"},
		{"negative ttl", "dns_ttl: -1s\n", "want whole seconds from 0 to 1h0m0s"},
		{"ttl fraction", "dns_ttl: 1500ms\n", "want whole seconds"},
		{"ttl too long", "dns_ttl: 2h\n", "want whole seconds"},
		{"no connections", "dns_max_connections: 0\n", "dns_max_connections: 0: must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkValidate(t, tt.body, tt.want) })
	}
}
