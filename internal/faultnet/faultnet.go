// Package faultnet is a memberlist transport for tests that loses, delays
// and refuses traffic on chosen links, so that in-process clusters run
// over a lossy network without root, netem or iptables. Only tests import
// it: production code never injects faults.
package faultnet

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Fault injection for tests: a memberlist transport that loses, delays and
// refuses traffic on chosen links, so that in-process clusters can be run
// over a lossy network without root, netem or iptables.
//
// A Faults value holds the rules for a whole test network; every
// FaultyTransport made from it consults the same rules. A rule is applied
// by the sending side: the transport of member A drops a UDP packet to B, or
// fails A's stream dial to B, according to the rule for the link A→B. With
// every member on a FaultyTransport of the same Faults, each direction of
// each link is therefore under control, and "100 % loss to and from X" is
// Isolate(X). Traffic from a member that is not on a FaultyTransport of the
// same Faults is not affected.
//
// Randomness is seeded: each link draws from its own generator, seeded from
// the Faults' seed and the link's endpoints (by the order in which their
// transports were created), so which of a link's packets are lost depends
// only on the seed and on how many packets went over that link before.

// LinkFaults are the faults on one direction of one link.
type LinkFaults struct {
	// Loss is the fraction of UDP packets dropped, from 0 to 1. The sender
	// sees no error, as on a real network.
	Loss float64
	// DialLoss is the fraction of stream (TCP) dials that fail, from 0 to
	// 1: memberlist's TCP fallback probes, push/pull and joins. A lost SYN
	// on a real network costs about a second, longer than most of
	// memberlist's stream deadlines, so a failed dial is a fair model of a
	// lossy link. A failed dial waits DialFailDelay before returning its
	// error.
	DialLoss float64
	// DialFailDelay is how long a failed dial takes to fail (capped at the
	// dial's timeout). Zero fails at once, like a refused connection.
	DialFailDelay time.Duration
	// Delay is added to every UDP packet that is not dropped, plus a
	// uniformly random extra of up to Jitter; delayed packets may arrive
	// out of order, as on a real network.
	Delay  time.Duration
	Jitter time.Duration
}

// zero reports whether the faults do nothing.
func (f LinkFaults) zero() bool { return f == LinkFaults{} }

// LinkStats counts what a link's faults did.
type LinkStats struct {
	// Packets is how many UDP packets the sender tried to send.
	Packets uint64
	// Dropped is how many of them were dropped.
	Dropped uint64
	// Delayed is how many were sent late.
	Delayed uint64
	// Dials is how many stream dials were attempted.
	Dials uint64
	// DialsFailed is how many of them were made to fail.
	DialsFailed uint64
}

func (s *LinkStats) add(o LinkStats) {
	s.Packets += o.Packets
	s.Dropped += o.Dropped
	s.Delayed += o.Delayed
	s.Dials += o.Dials
	s.DialsFailed += o.DialsFailed
}

// Link names one direction of a link by the members' gossip addresses,
// IP:PORT.
type Link struct {
	From, To string
}

// Faults is the rule book of a test network. Its methods are safe for
// concurrent use and take effect at once, also on transports already
// running.
type Faults struct {
	seed uint64

	mu       sync.Mutex
	all      LinkFaults          // every link without a rule of its own
	links    map[Link]LinkFaults // rules for single links
	isolated map[string]bool     // addresses cut off both ways
	index    map[string]int      // address → order of its transport
	rngs     map[Link]*rand.Rand // per-link generators
	stats    map[Link]*LinkStats // per-link counts
}

// NewFaults returns an empty rule book (no faults) whose random choices
// derive from seed.
func NewFaults(seed uint64) *Faults {
	return &Faults{
		seed:     seed,
		links:    map[Link]LinkFaults{},
		isolated: map[string]bool{},
		index:    map[string]int{},
		rngs:     map[Link]*rand.Rand{},
		stats:    map[Link]*LinkStats{},
	}
}

// SetAll sets the faults of every link that has no rule of its own.
func (f *Faults) SetAll(lf LinkFaults) {
	f.mu.Lock()
	f.all = lf
	f.mu.Unlock()
}

// SetLink sets the faults of one direction of one link, overriding SetAll.
func (f *Faults) SetLink(from, to string, lf LinkFaults) {
	f.mu.Lock()
	f.links[Link{normAddr(from), normAddr(to)}] = lf
	f.mu.Unlock()
}

// Isolate cuts addr off: every packet and dial to it and from it is lost
// (dials fail at once), whatever the other rules say, until Rejoin.
func (f *Faults) Isolate(addr string) {
	f.mu.Lock()
	f.isolated[normAddr(addr)] = true
	f.mu.Unlock()
}

// Rejoin undoes Isolate.
func (f *Faults) Rejoin(addr string) {
	f.mu.Lock()
	delete(f.isolated, normAddr(addr))
	f.mu.Unlock()
}

// Clear removes every rule and isolation: a perfect network again.
func (f *Faults) Clear() {
	f.mu.Lock()
	f.all = LinkFaults{}
	f.links = map[Link]LinkFaults{}
	f.isolated = map[string]bool{}
	f.mu.Unlock()
}

// Stats returns the counts of one link.
func (f *Faults) Stats(from, to string) LinkStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.stats[Link{normAddr(from), normAddr(to)}]; s != nil {
		return *s
	}
	return LinkStats{}
}

// Total returns the counts of every link added up.
func (f *Faults) Total() LinkStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	var t LinkStats
	for _, s := range f.stats {
		t.add(*s)
	}
	return t
}

// decision is what happens to one packet or dial.
type decision struct {
	drop  bool
	delay time.Duration
	fail  time.Duration // for a failed dial: how long it takes to fail
}

// decide draws the fate of one packet (dial false) or dial (dial true) on
// the link from → to.
func (f *Faults) decide(from, to string, dial bool) decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := Link{from, to}
	st := f.stats[l]
	if st == nil {
		st = &LinkStats{}
		f.stats[l] = st
	}
	if dial {
		st.Dials++
	} else {
		st.Packets++
	}
	var lf LinkFaults
	isolated := f.isolated[from] || f.isolated[to]
	if isolated {
		lf = LinkFaults{Loss: 1, DialLoss: 1}
	} else if r, ok := f.links[l]; ok {
		lf = r
	} else {
		lf = f.all
	}
	if lf.zero() {
		return decision{}
	}
	rng := f.rngs[l]
	if rng == nil {
		rng = rand.New(rand.NewPCG(f.seed, f.linkSeed(l)))
		f.rngs[l] = rng
	}
	var d decision
	if dial {
		if lf.DialLoss > 0 && rng.Float64() < lf.DialLoss {
			d.drop, d.fail = true, lf.DialFailDelay
			st.DialsFailed++
		}
		return d
	}
	if lf.Loss > 0 && rng.Float64() < lf.Loss {
		d.drop = true
		st.Dropped++
		return d
	}
	d.delay = lf.Delay
	if lf.Jitter > 0 {
		d.delay += time.Duration(rng.Int64N(int64(lf.Jitter) + 1))
	}
	if d.delay > 0 {
		st.Delayed++
	}
	return d
}

// linkSeed is a link's second seed word: from the order in which the two
// ends' transports were created when both are known (stable from run to
// run although ports differ), else from the addresses.
func (f *Faults) linkSeed(l Link) uint64 {
	fi, okf := f.index[l.From]
	ti, okt := f.index[l.To]
	if okf && okt {
		return uint64(fi)<<32 | uint64(ti) + 1
	}
	h := fnv.New64a()
	_, _ = io.WriteString(h, l.From+"→"+l.To)
	return h.Sum64()
}

// register records a transport and its address.
func (f *Faults) register(t *FaultyTransport) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.index[t.self]; !ok {
		f.index[t.self] = len(f.index)
	}
}

// normAddr returns addr as IP:PORT in canonical form when it parses, as is
// otherwise.
func normAddr(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	return addr
}

// errDialDropped is the error of a dial made to fail.
var errDialDropped = errors.New("faulty transport: dial dropped")

// FaultyTransport is a memberlist.NodeAwareTransport that applies the rules
// of a Faults to what it sends. Incoming packets and streams pass through
// untouched: their senders' transports applied the rules.
type FaultyTransport struct {
	inner memberlist.NodeAwareTransport
	f     *Faults
	self  string

	mu       sync.Mutex
	closed   bool
	inFlight sync.WaitGroup // delayed packets not yet sent
}

var _ memberlist.NodeAwareTransport = (*FaultyTransport)(nil)

// NewFaultyTransport wraps inner, whose members advertise self (IP:PORT),
// with the rules of f.
func NewFaultyTransport(inner memberlist.NodeAwareTransport, self string, f *Faults) *FaultyTransport {
	t := &FaultyTransport{inner: inner, f: f, self: normAddr(self)}
	f.register(t)
	return t
}

// NewFaultyNetTransport binds a memberlist NetTransport on bindAddr:port
// (port 0 picks a port free on TCP and UDP, retrying a few times as
// memberlist itself does) and wraps it with the rules of f. Use Addr and
// Port for Config.BindAddr and Config.BindPort, and pass the transport as
// Config.Transport. logger may be nil.
func NewFaultyNetTransport(f *Faults, bindAddr string, port int, logger *log.Logger) (*FaultyTransport, error) {
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	cfg := &memberlist.NetTransportConfig{BindAddrs: []string{bindAddr}, BindPort: port, Logger: logger}
	tries := 1
	if port == 0 {
		tries = 10
	}
	var (
		nt  *memberlist.NetTransport
		err error
	)
	for range tries {
		if nt, err = memberlist.NewNetTransport(cfg); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("faulty transport on %s:%d: %w", bindAddr, port, err)
	}
	self := net.JoinHostPort(bindAddr, strconv.Itoa(nt.GetAutoBindPort()))
	return NewFaultyTransport(nt, self, f), nil
}

// Addr returns the transport's own address, IP:PORT.
func (t *FaultyTransport) Addr() string { return t.self }

// Port returns the transport's own port.
func (t *FaultyTransport) Port() int {
	ap, err := netip.ParseAddrPort(t.self)
	if err != nil {
		return 0
	}
	return int(ap.Port())
}

// FinalAdvertiseAddr implements memberlist.Transport.
func (t *FaultyTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

// WriteTo implements memberlist.Transport.
func (t *FaultyTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress implements memberlist.NodeAwareTransport: the packet is
// dropped, delayed or sent as the link's rule decides. A dropped or delayed
// packet reports success at once.
func (t *FaultyTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	d := t.f.decide(t.self, normAddr(a.Addr), false)
	switch {
	case d.drop:
		return time.Now(), nil
	case d.delay > 0:
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return time.Now(), nil
		}
		t.inFlight.Add(1)
		t.mu.Unlock()
		buf := append([]byte(nil), b...)
		time.AfterFunc(d.delay, func() {
			defer t.inFlight.Done()
			t.mu.Lock()
			closed := t.closed
			t.mu.Unlock()
			if !closed {
				_, _ = t.inner.WriteToAddress(buf, a)
			}
		})
		return time.Now(), nil
	}
	return t.inner.WriteToAddress(b, a)
}

// PacketCh implements memberlist.Transport.
func (t *FaultyTransport) PacketCh() <-chan *memberlist.Packet { return t.inner.PacketCh() }

// DialTimeout implements memberlist.Transport.
func (t *FaultyTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport: the dial
// fails, after the rule's DialFailDelay, or goes through.
func (t *FaultyTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	d := t.f.decide(t.self, normAddr(a.Addr), true)
	if d.drop {
		wait := d.fail
		if timeout > 0 && wait > timeout {
			wait = timeout
		}
		if wait > 0 {
			time.Sleep(wait)
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errDialDropped}
	}
	return t.inner.DialAddressTimeout(a, timeout)
}

// StreamCh implements memberlist.Transport.
func (t *FaultyTransport) StreamCh() <-chan net.Conn { return t.inner.StreamCh() }

// Shutdown implements memberlist.Transport: delayed packets not yet sent
// are dropped, and the inner transport is shut down.
func (t *FaultyTransport) Shutdown() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	err := t.inner.Shutdown()
	t.inFlight.Wait()
	return err
}
