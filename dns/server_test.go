package dns

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/rs/zerolog"
)

// fakeSource is a Source over fixed instances and nodes.
type fakeSource struct {
	mu        sync.Mutex
	instances map[string][]Instance // by lower-case service name
	nodes     []Node
}

func (f *fakeSource) Instances(service string) []Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.instances[strings.ToLower(service)])
}

func (f *fakeSource) Node(name string) (Node, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nodes {
		if n.Name == name {
			return n, true
		}
	}
	for _, n := range f.nodes {
		if strings.EqualFold(n.Name, name) {
			return n, true
		}
	}
	return Node{}, false
}

// testSource: web has three passing instances (one with its own IPv6
// address, one tagged primary) and a critical one; db has only a critical
// instance; api's one instance answers on a host name.
func testSource() *fakeSource {
	return &fakeSource{
		instances: map[string][]Instance{
			"web": {
				{Node: "web-1", NodeAddr: "10.0.0.1", Addr: "10.0.0.1", Port: 8080, Tags: map[string]string{"role": "primary", "version": "1.4"}, Passing: true},
				{Node: "web-2", NodeAddr: "10.0.0.2", Addr: "10.0.0.2", Port: 8080, Tags: map[string]string{"role": "replica"}, Passing: true},
				{Node: "web-3", NodeAddr: "10.0.0.3", Addr: "fd00::3", Port: 8081, Tags: map[string]string{"role": "replica"}, Passing: true},
				{Node: "web-4", NodeAddr: "10.0.0.4", Addr: "10.0.0.4", Port: 8080, Tags: map[string]string{"role": "canary"}, Passing: false},
			},
			"db": {{Node: "db-1", NodeAddr: "10.0.1.1", Addr: "10.0.1.1", Port: 5432, Passing: false}},
			"cache": {
				{Node: "cache-1", NodeAddr: "10.0.3.1", Addr: "10.0.3.1", Port: 6379, Passing: true},
				{Node: "cache-2", NodeAddr: "10.0.3.2", Addr: "10.0.3.1", Port: 6380, Passing: true},
			},
			"api": {{Node: "api 1", NodeAddr: "10.0.2.1", Addr: "api.example.com", Port: 443, Passing: true}},
		},
		nodes: []Node{
			{Name: "web-1", Addr: "10.0.0.1", Alive: true},
			{Name: "Mixed-Case", Addr: "10.0.0.9", Alive: true},
			{Name: "six", Addr: "fd00::6", Alive: true},
			{Name: "web-4", Addr: "10.0.0.4", Alive: false},
		},
	}
}

// startServer serves src on a free loopback port and returns the
// address; the server stops at the end of the test.
func startServer(t testing.TB, src Source, cfg Config) string {
	t.Helper()
	pc, ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(src, cfg, zerolog.Nop())
	done := make(chan error, 1)
	go func() { done <- s.Serve(pc, ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return pc.LocalAddr().String()
}

// query asks addr over net ("udp" or "tcp") and fails the test on a
// transport error.
func query(t testing.TB, addr, network, name string, qtype uint16, edns uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, mdns.TypeToString[qtype], err)
	}
	return r
}

// rrStrings returns the records' data (what dig +short prints), sorted.
func rrStrings(rrs []mdns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		hdr := rr.Header().String()
		out = append(out, strings.TrimSpace(strings.TrimPrefix(rr.String(), hdr)))
	}
	sort.Strings(out)
	return out
}

func TestAnswers(t *testing.T) {
	addr := startServer(t, testSource(), Config{})
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string // sorted record data
		extra  []string
		soa    bool // the zone's SOA in the authority section
	}{
		{name: "A of passing instances", qname: "web.service.vigil.", qtype: mdns.TypeA, answer: []string{"10.0.0.1", "10.0.0.2"}},
		{name: "AAAA of passing instances", qname: "web.service.vigil.", qtype: mdns.TypeAAAA, answer: []string{"fd00::3"}},
		{name: "ANY is A and AAAA", qname: "web.service.vigil.", qtype: mdns.TypeANY, answer: []string{"10.0.0.1", "10.0.0.2", "fd00::3"}},
		{name: "SRV with targets and their addresses", qname: "web.service.vigil.", qtype: mdns.TypeSRV,
			answer: []string{"1 1 8080 web-1.node.vigil.", "1 1 8080 web-2.node.vigil.", "1 1 8081 fd000000000000000000000000000003.addr.vigil."},
			extra:  []string{"10.0.0.1", "10.0.0.2", "fd00::3"}},
		{name: "instances on one address: one A", qname: "cache.service.vigil.", qtype: mdns.TypeA, answer: []string{"10.0.3.1"}},
		{name: "instances on one address: an SRV each, one glue", qname: "cache.service.vigil.", qtype: mdns.TypeSRV,
			answer: []string{"1 1 6379 cache-1.node.vigil.", "1 1 6380 0a000301.addr.vigil."}, extra: []string{"10.0.3.1", "10.0.3.1"}},
		{name: "case does not matter", qname: "WEB.Service.VIGIL.", qtype: mdns.TypeA, answer: []string{"10.0.0.1", "10.0.0.2"}},
		{name: "tag value", qname: "primary.web.service.vigil.", qtype: mdns.TypeA, answer: []string{"10.0.0.1"}},
		{name: "tag value, case folded", qname: "REPLICA.web.service.vigil.", qtype: mdns.TypeSRV,
			answer: []string{"1 1 8080 web-2.node.vigil.", "1 1 8081 fd000000000000000000000000000003.addr.vigil."},
			extra:  []string{"10.0.0.2", "fd00::3"}},
		{name: "tag of critical instances only: empty", qname: "canary.web.service.vigil.", qtype: mdns.TypeA, soa: true},
		{name: "tag no instance has", qname: "nosuch.web.service.vigil.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: true},
		{name: "RFC 2782 _tcp", qname: "_web._tcp.service.vigil.", qtype: mdns.TypeSRV,
			answer: []string{"1 1 8080 web-1.node.vigil.", "1 1 8080 web-2.node.vigil.", "1 1 8081 fd000000000000000000000000000003.addr.vigil."},
			extra:  []string{"10.0.0.1", "10.0.0.2", "fd00::3"}},
		{name: "RFC 2782 with a tag", qname: "_web._primary.service.vigil.", qtype: mdns.TypeSRV,
			answer: []string{"1 1 8080 web-1.node.vigil."}, extra: []string{"10.0.0.1"}},
		{name: "service with no passing instance: empty", qname: "db.service.vigil.", qtype: mdns.TypeA, soa: true},
		{name: "unknown service", qname: "nosuch.service.vigil.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: true},
		{name: "host name address: no A", qname: "api.service.vigil.", qtype: mdns.TypeA, soa: true},
		{name: "host name address: SRV target, no glue", qname: "api.service.vigil.", qtype: mdns.TypeSRV, answer: []string{"1 1 443 api.example.com."}},
		{name: "other type on a service: empty", qname: "web.service.vigil.", qtype: mdns.TypeTXT, soa: true},
		{name: "node", qname: "web-1.node.vigil.", qtype: mdns.TypeA, answer: []string{"10.0.0.1"}},
		{name: "node, other case", qname: "mixed-case.node.vigil.", qtype: mdns.TypeA, answer: []string{"10.0.0.9"}},
		{name: "node IPv6", qname: "six.node.vigil.", qtype: mdns.TypeAAAA, answer: []string{"fd00::6"}},
		{name: "node IPv6, A asked: empty", qname: "six.node.vigil.", qtype: mdns.TypeA, soa: true},
		{name: "failed node: empty", qname: "web-4.node.vigil.", qtype: mdns.TypeA, soa: true},
		{name: "unknown node", qname: "nosuch.node.vigil.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: true},
		{name: "addr IPv4", qname: "0a000001.addr.vigil.", qtype: mdns.TypeA, answer: []string{"10.0.0.1"}},
		{name: "addr IPv6", qname: "fd000000000000000000000000000003.addr.vigil.", qtype: mdns.TypeAAAA, answer: []string{"fd00::3"}},
		{name: "addr not hex", qname: "zz.addr.vigil.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: true},
		{name: "apex SOA", qname: "vigil.", qtype: mdns.TypeSOA, answer: []string{"SOA"}},
		{name: "apex A: empty", qname: "vigil.", qtype: mdns.TypeA, soa: true},
		{name: "service. alone: empty", qname: "service.vigil.", qtype: mdns.TypeA, soa: true},
		{name: "unknown kind", qname: "web.thing.vigil.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: true},
		{name: "escaped name", qname: `we\.b.service.vigil.`, qtype: mdns.TypeA, rcode: mdns.RcodeNameError, soa: true},
		{name: "another domain: refused", qname: "example.com.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		{name: "a domain ending like ours: refused", qname: "web.service.notvigil.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		{name: "the root: refused", qname: ".", qtype: mdns.TypeNS, rcode: mdns.RcodeRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, network := range []string{"udp", "tcp"} {
				r := query(t, addr, network, tt.qname, tt.qtype, 0)
				if r.Rcode != tt.rcode {
					t.Errorf("%s: rcode %s, want %s", network, mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.rcode])
				}
				if r.RecursionAvailable {
					t.Errorf("%s: RA set: the server never recurses", network)
				}
				if r.Authoritative != (tt.rcode != mdns.RcodeRefused) {
					t.Errorf("%s: AA %v", network, r.Authoritative)
				}
				got := rrStrings(r.Answer)
				if tt.answer != nil && len(tt.answer) == 1 && tt.answer[0] == "SOA" {
					if len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != mdns.TypeSOA {
						t.Errorf("%s: answer %v, want the SOA", network, r.Answer)
					}
				} else if !slices.Equal(got, tt.answer) && (len(got) > 0 || len(tt.answer) > 0) {
					t.Errorf("%s: answer %q, want %q", network, got, tt.answer)
				}
				for _, rr := range r.Answer {
					if rr.Header().Ttl != 0 || (rr.Header().Rrtype != mdns.TypeSOA && rr.Header().Name != tt.qname) {
						t.Errorf("%s: record %s: want TTL 0 and the name asked", network, rr)
					}
				}
				if extra := rrStrings(r.Extra); !slices.Equal(extra, tt.extra) && (len(extra) > 0 || len(tt.extra) > 0) {
					t.Errorf("%s: extra %q, want %q", network, extra, tt.extra)
				}
				hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == mdns.TypeSOA
				if hasSOA != tt.soa {
					t.Errorf("%s: authority %v, want SOA: %v", network, r.Ns, tt.soa)
				}
			}
		})
	}
}

// TestRandomOrder: every instance comes first in some answer.
func TestRandomOrder(t *testing.T) {
	addr := startServer(t, testSource(), Config{})
	first := map[string]bool{}
	for i := 0; i < 200 && len(first) < 2; i++ {
		r := query(t, addr, "udp", "web.service.vigil.", mdns.TypeA, 0)
		first[r.Answer[0].(*mdns.A).A.String()] = true
	}
	if len(first) < 2 {
		t.Errorf("200 answers all began with %v", first)
	}
}

// TestDomainAndTTL: another domain and TTL apply to every record, and
// the SOA's minimum; the default domain is then refused.
func TestDomainAndTTL(t *testing.T) {
	addr := startServer(t, testSource(), Config{Domain: "Cluster.Internal", TTL: 30 * time.Second})
	r := query(t, addr, "udp", "web.service.cluster.internal.", mdns.TypeSRV, 0)
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 3 {
		t.Fatalf("answer %v", r)
	}
	for _, rr := range append(r.Answer, r.Extra...) {
		if rr.Header().Ttl != 30 {
			t.Errorf("%s: TTL %d, want 30", rr, rr.Header().Ttl)
		}
	}
	if srv := r.Answer[0].(*mdns.SRV); !strings.HasSuffix(srv.Target, ".cluster.internal.") {
		t.Errorf("target %s not in the domain", srv.Target)
	}
	r = query(t, addr, "udp", "nosuch.service.cluster.internal.", mdns.TypeA, 0)
	if soa, ok := r.Ns[0].(*mdns.SOA); r.Rcode != mdns.RcodeNameError || !ok || soa.Minttl != 30 || soa.Hdr.Name != "cluster.internal." {
		t.Errorf("negative answer %v", r)
	}
	if r := query(t, addr, "udp", "web.service.vigil.", mdns.TypeA, 0); r.Rcode != mdns.RcodeRefused {
		t.Errorf("vigil. with another domain: %s", mdns.RcodeToString[r.Rcode])
	}
}

// manySource has one service, big, of n passing instances.
func manySource(n int) *fakeSource {
	f := &fakeSource{instances: map[string][]Instance{}}
	for i := 0; i < n; i++ {
		ip := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
		f.instances["big"] = append(f.instances["big"], Instance{Node: fmt.Sprintf("big-%03d", i), NodeAddr: ip, Addr: ip, Port: 9000, Passing: true})
	}
	return f
}

// TestTruncation: a UDP answer fits 512 bytes, or the EDNS size up to
// MaxUDPSize, with TC set when answers were left out; TCP carries them
// all. Additional records left out alone do not set TC.
func TestTruncation(t *testing.T) {
	addr := startServer(t, manySource(100), Config{})
	tests := []struct {
		name      string
		network   string
		qtype     uint16
		edns      uint16
		maxSize   int
		truncated bool
		all       bool
	}{
		{name: "udp 512", network: "udp", qtype: mdns.TypeA, maxSize: 512, truncated: true},
		{name: "udp edns 1232", network: "udp", qtype: mdns.TypeA, edns: 1232, maxSize: 1232, truncated: true},
		{name: "udp edns 4096 is held to 1232", network: "udp", qtype: mdns.TypeA, edns: 4096, maxSize: MaxUDPSize, truncated: true},
		{name: "udp edns below 512 is 512", network: "udp", qtype: mdns.TypeA, edns: 100, maxSize: 512, truncated: true},
		{name: "tcp", network: "tcp", qtype: mdns.TypeA, maxSize: mdns.MaxMsgSize, all: true},
		{name: "tcp srv", network: "tcp", qtype: mdns.TypeSRV, maxSize: mdns.MaxMsgSize, all: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := query(t, addr, tt.network, "big.service.vigil.", tt.qtype, tt.edns)
			r.Compress = true // as it came on the wire
			b, _ := r.Pack()
			if len(b) > tt.maxSize {
				t.Errorf("answer of %d bytes, over %d", len(b), tt.maxSize)
			}
			if r.Truncated != tt.truncated {
				t.Errorf("TC %v, want %v", r.Truncated, tt.truncated)
			}
			if tt.all != (len(r.Answer) == 100) {
				t.Errorf("%d answers", len(r.Answer))
			}
			if !tt.all && len(r.Answer) < 10 {
				t.Errorf("only %d answers fit", len(r.Answer))
			}
			if (tt.edns != 0) != (r.IsEdns0() != nil) {
				t.Errorf("OPT in the answer: %v, asked with EDNS: %v", r.IsEdns0() != nil, tt.edns != 0)
			}
		})
	}

	// 12 SRV answers fit in 512 bytes but their addresses do not all: no
	// TC, and the additional records that fit.
	addr = startServer(t, manySource(12), Config{})
	r := query(t, addr, "udp", "big.service.vigil.", mdns.TypeSRV, 0)
	r.Compress = true
	b, _ := r.Pack()
	if len(r.Answer) != 12 || r.Truncated || len(b) > 512 || len(r.Extra) >= 12 {
		t.Errorf("SRV: %d answers, %d extra, TC %v, %d bytes", len(r.Answer), len(r.Extra), r.Truncated, len(b))
	}
}

// TestBadQueries: what is not a standard query gets an error, never an
// answer.
func TestBadQueries(t *testing.T) {
	addr := startServer(t, testSource(), Config{})
	c := &mdns.Client{Net: "udp", Timeout: 5 * time.Second}
	tests := []struct {
		name  string
		msg   func() *mdns.Msg
		rcode int
	}{
		{name: "EDNS version 1", msg: func() *mdns.Msg {
			m := new(mdns.Msg).SetQuestion("web.service.vigil.", mdns.TypeA)
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
			return m
		}, rcode: mdns.RcodeBadVers},
		{name: "NOTIFY", msg: func() *mdns.Msg {
			return new(mdns.Msg).SetNotify("vigil.")
		}, rcode: mdns.RcodeNotImplemented},
		{name: "UPDATE", msg: func() *mdns.Msg {
			return new(mdns.Msg).SetUpdate("vigil.")
		}, rcode: mdns.RcodeNotImplemented},
		{name: "CHAOS class", msg: func() *mdns.Msg {
			m := new(mdns.Msg).SetQuestion("version.bind.", mdns.TypeTXT)
			m.Question[0].Qclass = mdns.ClassCHAOS
			return m
		}, rcode: mdns.RcodeRefused},
		{name: "recursion desired elsewhere", msg: func() *mdns.Msg {
			m := new(mdns.Msg).SetQuestion("example.org.", mdns.TypeA)
			m.RecursionDesired = true
			return m
		}, rcode: mdns.RcodeRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := c.Exchange(tt.msg(), addr)
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tt.rcode || len(r.Answer) != 0 {
				t.Errorf("rcode %s with %d answers, want %s", mdns.RcodeToString[r.Rcode], len(r.Answer), mdns.RcodeToString[tt.rcode])
			}
		})
	}
}

// TestTCPConnectionCap: past MaxConnections open TCP connections, a new
// one is closed unanswered; once one closes, a new one is served.
func TestTCPConnectionCap(t *testing.T) {
	addr := startServer(t, testSource(), Config{MaxConnections: 3})
	var held []*mdns.Conn
	for range 3 {
		c, err := mdns.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		// A query answered shows the connection holds a slot.
		if err := c.WriteMsg(new(mdns.Msg).SetQuestion("web.service.vigil.", mdns.TypeA)); err != nil {
			t.Fatal(err)
		}
		if r, err := c.ReadMsg(); err != nil || len(r.Answer) != 2 {
			t.Fatalf("held connection: %v %v", r, err)
		}
		held = append(held, c)
	}
	over, err := mdns.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	_ = over.SetDeadline(time.Now().Add(5 * time.Second))
	if err := over.WriteMsg(new(mdns.Msg).SetQuestion("web.service.vigil.", mdns.TypeA)); err == nil {
		if r, err := over.ReadMsg(); err == nil {
			t.Fatalf("connection over the cap answered: %v", r)
		}
	}
	// UDP is not held up by the TCP cap.
	if r := query(t, addr, "udp", "web.service.vigil.", mdns.TypeA, 0); len(r.Answer) != 2 {
		t.Errorf("udp while TCP is full: %v", r)
	}
	held[0].Close()
	var r *mdns.Msg
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := &mdns.Client{Net: "tcp", Timeout: 2 * time.Second}
		if r, _, err = c.Exchange(new(mdns.Msg).SetQuestion("web.service.vigil.", mdns.TypeA), addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TCP answer after a slot was freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(r.Answer) != 2 {
		t.Errorf("answer %v", r)
	}
}

// TestListenPortZero: port 0 gives one port, open on UDP and TCP alike.
func TestListenPortZero(t *testing.T) {
	pc, ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	defer ln.Close()
	_, up, _ := net.SplitHostPort(pc.LocalAddr().String())
	_, tp, _ := net.SplitHostPort(ln.Addr().String())
	if up != tp || up == "0" {
		t.Errorf("udp port %s, tcp port %s", up, tp)
	}
	if _, _, err := Listen(pc.LocalAddr().String()); err == nil {
		t.Error("listening twice on one address worked")
	}
	if _, _, err := Listen("nonsense"); err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Errorf("bad address: %v", err)
	}
}

// TestShutdownBeforeServe: Shutdown first, then Serve returns at once
// and closes what it was given.
func TestShutdownBeforeServe(t *testing.T) {
	pc, ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(testSource(), Config{}, zerolog.Nop())
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(pc, ln); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still open")
	}
}
