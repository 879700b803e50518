package dns

import (
	"encoding/hex"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// SOA timers of the zone (RFC 1912's suggestions); nothing transfers the
// zone, so only Minttl matters: resolvers cache a negative answer that
// long, and it is the records' TTL.
const (
	soaRefresh = 3600
	soaRetry   = 600
	soaExpire  = 86400
)

// ServeDNS implements miekg/dns's Handler: it answers one query.
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	m := s.answer(req, udp)
	err := w.WriteMsg(m)
	if e := s.log.Debug(); e.Enabled() {
		transport := "tcp"
		if udp {
			transport = "udp"
		}
		if len(req.Question) == 1 {
			e = e.Str("qname", req.Question[0].Name).Str("qtype", mdns.Type(req.Question[0].Qtype).String())
		}
		e.Str("rcode", mdns.RcodeToString[m.Rcode]).Int("answers", len(m.Answer)).Bool("truncated", m.Truncated).
			Str("transport", transport).Str("remote", w.RemoteAddr().String()).AnErr("write_error", err).Msg("dns query")
	}
}

// answer builds the reply to req. udp selects the size limit: 512 bytes,
// or what the query's EDNS record offers up to MaxUDPSize; over TCP,
// 65,535.
func (s *Server) answer(req *mdns.Msg, udp bool) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = false
	size := mdns.MinMsgSize
	opt := req.IsEdns0()
	if opt != nil {
		if opt.Version() != 0 {
			m.Rcode = mdns.RcodeBadVers
			m.SetEdns0(MaxUDPSize, false)
			return m
		}
		size = min(max(int(opt.UDPSize()), mdns.MinMsgSize), MaxUDPSize)
	}
	switch {
	case req.Opcode != mdns.OpcodeQuery:
		m.Rcode = mdns.RcodeNotImplemented
	case len(req.Question) != 1:
		m.Rcode = mdns.RcodeFormatError
	default:
		s.resolve(m, req.Question[0])
	}
	if opt != nil {
		m.SetEdns0(MaxUDPSize, false)
	}
	if !udp {
		size = mdns.MaxMsgSize
	}
	truncate(m, size)
	return m
}

// truncate fits m into size bytes. Only a dropped answer or authority
// record sets TC: additional records (an SRV target's address) are a
// convenience the client can look up itself.
func truncate(m *mdns.Msg, size int) {
	answers, ns := len(m.Answer), len(m.Ns)
	m.Truncate(size)
	if len(m.Answer) == answers && len(m.Ns) == ns {
		m.Truncated = false
	}
	m.Compress = true
}

// resolve fills m's answer for q, or its rcode.
func (s *Server) resolve(m *mdns.Msg, q mdns.Question) {
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		m.Rcode = mdns.RcodeRefused
		m.Authoritative = false
		return
	}
	rest, ok := s.inZone(q.Name)
	if !ok {
		// Not ours, and never recursion.
		m.Rcode = mdns.RcodeRefused
		m.Authoritative = false
		return
	}
	if rest == "" {
		if q.Qtype == mdns.TypeSOA || q.Qtype == mdns.TypeANY {
			m.Answer = append(m.Answer, s.soa())
		} else {
			m.Ns = append(m.Ns, s.soa())
		}
		return
	}
	if strings.Contains(rest, `\`) {
		// A name that needs escapes is no service's or node's that this
		// server can name.
		s.nxdomain(m)
		return
	}
	prefix, kind := "", rest
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		prefix, kind = rest[:i], rest[i+1:]
	}
	switch strings.ToLower(kind) {
	case "service":
		s.service(m, q, prefix)
	case "node":
		s.node(m, q, prefix)
	case "addr":
		s.addr(m, q, prefix)
	default:
		s.nxdomain(m)
	}
}

// inZone returns the labels of name before the server's domain ("" for
// the domain itself), in the case they were asked in, and whether name
// is in the domain at all.
func (s *Server) inZone(name string) (string, bool) {
	fq, d := mdns.Fqdn(name), len(s.domain)
	switch {
	case strings.EqualFold(fq, s.domain):
		return "", true
	case len(fq) > d+1 && fq[len(fq)-d-1] == '.' && strings.EqualFold(fq[len(fq)-d:], s.domain):
		return fq[:len(fq)-d-1], true
	}
	return "", false
}

// service answers NAME.service, TAG.NAME.service and RFC 2782's
// _NAME._TAG.service (_tcp and _udp: no tag). A name that is both a
// service's and TAG.NAME (a service called "a.b") is the service's.
func (s *Server) service(m *mdns.Msg, q mdns.Question, prefix string) {
	if prefix == "" {
		m.Ns = append(m.Ns, s.soa()) // service.DOMAIN itself: no records
		return
	}
	type lookup struct{ name, tag string }
	var tries []lookup
	labels := strings.Split(prefix, ".")
	if len(labels) == 2 && strings.HasPrefix(labels[0], "_") && strings.HasPrefix(labels[1], "_") {
		tag := labels[1][1:]
		if strings.EqualFold(tag, "tcp") || strings.EqualFold(tag, "udp") {
			tag = ""
		}
		tries = []lookup{{labels[0][1:], tag}}
	} else {
		tries = []lookup{{prefix, ""}}
		if len(labels) > 1 {
			tries = append(tries, lookup{strings.Join(labels[1:], "."), labels[0]})
		}
	}
	for _, t := range tries {
		if t.name == "" {
			continue
		}
		exists := false
		var passing []Instance
		for _, in := range s.src.Instances(t.name) {
			if t.tag != "" && !hasTagValue(in.Tags, t.tag) {
				continue
			}
			exists = true
			if in.Passing {
				passing = append(passing, in)
			}
		}
		if !exists {
			continue
		}
		rand.Shuffle(len(passing), func(i, j int) { passing[i], passing[j] = passing[j], passing[i] })
		s.instanceRecords(m, q, passing)
		return
	}
	s.nxdomain(m)
}

// hasTagValue reports whether one of the service's tags has the value
// label, compared without regard to case, as DNS names are.
func hasTagValue(tags map[string]string, label string) bool {
	for _, v := range tags {
		if strings.EqualFold(v, label) {
			return true
		}
	}
	return false
}

// instanceRecords adds the records of q's type for the instances: A and
// AAAA of their IP addresses (ANY: both), or SRV with the target's
// address as an additional record.
func (s *Server) instanceRecords(m *mdns.Msg, q mdns.Question, list []Instance) {
	switch q.Qtype {
	case mdns.TypeA, mdns.TypeAAAA, mdns.TypeANY:
		// Instances on one address (ports apart) give one record: an
		// RRset holds no duplicates (RFC 2181).
		seen := map[netip.Addr]bool{}
		for _, in := range list {
			ip, err := netip.ParseAddr(in.Addr)
			if err != nil {
				continue // a host name: SRV only
			}
			if ip = ip.Unmap(); seen[ip] {
				continue
			}
			seen[ip] = true
			if rr := s.addrRecord(q.Name, ip, q.Qtype); rr != nil {
				m.Answer = append(m.Answer, rr)
			}
		}
	case mdns.TypeSRV:
		glued := map[string]bool{}
		for _, in := range list {
			if in.Port < 1 || in.Port > 65535 {
				continue
			}
			target, ip, ok := s.srvTarget(in)
			if !ok {
				continue
			}
			m.Answer = append(m.Answer, &mdns.SRV{Hdr: s.header(q.Name, mdns.TypeSRV),
				Priority: 1, Weight: 1, Port: uint16(in.Port), Target: target})
			if ip.IsValid() && !glued[target] {
				glued[target] = true
				m.Extra = append(m.Extra, s.addrRecord(target, ip, mdns.TypeANY))
			}
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, s.soa())
	}
}

// srvTarget names an instance's SRV target: NODE.node.DOMAIN when the
// service answers on its member's own address and the member's name is
// a DNS name, else HEX.addr.DOMAIN for an IP address, or the service's
// host name. ip is the address to add as an additional record (none for
// a host name); ok is false when the instance cannot be named.
func (s *Server) srvTarget(in Instance) (target string, ip netip.Addr, ok bool) {
	addr, err := netip.ParseAddr(in.Addr)
	if err != nil {
		if !validName(in.Addr) {
			return "", netip.Addr{}, false
		}
		return mdns.Fqdn(in.Addr), netip.Addr{}, true
	}
	addr = addr.Unmap()
	if node, err := netip.ParseAddr(in.NodeAddr); err == nil && node.Unmap() == addr && validName(in.Node) {
		if t := in.Node + ".node." + s.domain; len(t) <= 254 {
			return t, addr, true
		}
	}
	return hex.EncodeToString(addr.AsSlice()) + ".addr." + s.domain, addr, true
}

// validName reports whether name is one or more DNS labels of letters,
// digits, '-' and '_', each of 1 to 63 bytes, 253 bytes in all at most.
func validName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// node answers NODE.node: the member's address while it is alive.
func (s *Server) node(m *mdns.Msg, q mdns.Question, name string) {
	if name == "" {
		m.Ns = append(m.Ns, s.soa())
		return
	}
	n, ok := s.src.Node(name)
	if !ok {
		s.nxdomain(m)
		return
	}
	if ip, err := netip.ParseAddr(n.Addr); err == nil && n.Alive {
		if rr := s.addrRecord(q.Name, ip.Unmap(), q.Qtype); rr != nil {
			m.Answer = append(m.Answer, rr)
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, s.soa())
	}
}

// addr answers HEX.addr, the names of SRV targets: 8 hex digits are an
// IPv4 address, 32 an IPv6 one.
func (s *Server) addr(m *mdns.Msg, q mdns.Question, label string) {
	if label == "" {
		m.Ns = append(m.Ns, s.soa())
		return
	}
	b, err := hex.DecodeString(label)
	ip, ok := netip.AddrFromSlice(b)
	if err != nil || !ok || strings.Contains(label, ".") {
		s.nxdomain(m)
		return
	}
	if rr := s.addrRecord(q.Name, ip, q.Qtype); rr != nil {
		m.Answer = append(m.Answer, rr)
	} else {
		m.Ns = append(m.Ns, s.soa())
	}
}

// addrRecord returns an A record for an IPv4 address and an AAAA record
// for an IPv6 one, if qtype asks for it (ANY asks for both); else nil.
func (s *Server) addrRecord(name string, ip netip.Addr, qtype uint16) mdns.RR {
	switch {
	case ip.Is4() && (qtype == mdns.TypeA || qtype == mdns.TypeANY):
		return &mdns.A{Hdr: s.header(name, mdns.TypeA), A: net.IP(ip.AsSlice())}
	case ip.Is6() && (qtype == mdns.TypeAAAA || qtype == mdns.TypeANY):
		return &mdns.AAAA{Hdr: s.header(name, mdns.TypeAAAA), AAAA: net.IP(ip.AsSlice())}
	}
	return nil
}

func (s *Server) header(name string, rrtype uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: rrtype, Class: mdns.ClassINET, Ttl: s.ttl}
}

// nxdomain answers that the name does not exist, with the zone's SOA for
// negative caching (RFC 2308).
func (s *Server) nxdomain(m *mdns.Msg) {
	m.Rcode = mdns.RcodeNameError
	m.Ns = append(m.Ns, s.soa())
}

// soa is the zone's SOA record. The serial is the time: nothing
// transfers the zone.
func (s *Server) soa() *mdns.SOA {
	return &mdns.SOA{
		Hdr: s.header(s.domain, mdns.TypeSOA),
		Ns:  "ns." + s.domain, Mbox: "hostmaster." + s.domain,
		Serial:  uint32(time.Now().Unix()),
		Refresh: soaRefresh, Retry: soaRetry, Expire: soaExpire, Minttl: s.ttl,
	}
}
