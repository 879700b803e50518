// Package dns answers DNS queries for the services and nodes of a vigil
// cluster: NAME.service.vigil gives the passing instances of a service
// (A, AAAA and SRV records), NODE.node.vigil a member's address. It is
// built on github.com/miekg/dns, serves UDP and TCP on one address, and
// talks to the agent only through the Source interface. See docs/dns.md.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/rs/zerolog"
)

// Defaults of the agent's dns, dns_domain and dns_max_connections.
const (
	// DefaultAddr is where the agent answers DNS unless told otherwise:
	// loopback only, Consul's DNS port.
	DefaultAddr = "127.0.0.1:8600"
	// DefaultDomain is the zone the server answers for.
	DefaultDomain = "vigil."
	// DefaultMaxConnections caps the TCP connections open at once.
	DefaultMaxConnections = 64
)

// MaxUDPSize is the largest UDP answer sent, whatever size a query's EDNS
// record offers: the DNS flag day 2020 size, which no path fragments. A
// larger answer is truncated (TC set) and the client asks again over TCP.
// It also bounds what a forged query can reflect at someone else.
const MaxUDPSize = 1232

// Timeouts of a TCP connection: the first query must come within
// tcpReadTimeout, later ones within tcpIdleTimeout (RFC 7766's advice), an
// answer must be written within tcpWriteTimeout.
const (
	tcpReadTimeout  = 2 * time.Second
	tcpIdleTimeout  = 8 * time.Second
	tcpWriteTimeout = 2 * time.Second
	// tcpMaxQueries is how many queries one TCP connection may ask before
	// the server closes it.
	tcpMaxQueries = 128
)

// Instance is one member offering a service, as the DNS server needs it.
type Instance struct {
	// Node is the member's name.
	Node string
	// NodeAddr is the member's own (gossip) IP address.
	NodeAddr string
	// Addr is where the service answers: an IP address (NodeAddr unless
	// the service sets its own) or a host name.
	Addr string
	// Port is the service's port.
	Port int
	// Tags are the service's tags (service.tags), without their gossip
	// prefix.
	Tags map[string]string
	// Passing is true when the member is alive and its service's health
	// is passing.
	Passing bool
}

// Node is one member, as NODE.node lookups need it.
type Node struct {
	// Name is the member's name.
	Name string
	// Addr is the member's (gossip) IP address.
	Addr string
	// Alive is true when the member's status is alive.
	Alive bool
}

// Source is what the DNS server needs from the running agent.
type Source interface {
	// Instances returns every member offering the named service, passing
	// or not, the name compared without regard to case; none when no
	// member offers it.
	Instances(service string) []Instance
	// Node returns the member of that name (an exact match first, else
	// one that differs only in case); false when there is none.
	Node(name string) (Node, bool)
}

// Config sets what the server answers.
type Config struct {
	// Domain is the zone answered for, such as "vigil." (DefaultDomain
	// when empty). Queries for any other name are REFUSED.
	Domain string
	// TTL is the time to live of every record; 0 (the default) tells
	// resolvers not to cache, so a failed instance is gone at the next
	// query. Whole seconds.
	TTL time.Duration
	// MaxConnections caps the TCP connections open at once
	// (DefaultMaxConnections when 0); one more is closed at once.
	MaxConnections int
}

// Server answers DNS queries from a Source. Create it with New, then call
// Serve with the listeners Listen opened.
type Server struct {
	src    Source
	log    zerolog.Logger
	domain string // lower case, fully qualified: "vigil."
	ttl    uint32
	maxTCP int

	mu      sync.Mutex
	servers []*mdns.Server
	ready   chan struct{} // closed once both servers run, or Serve failed
	readyMu sync.Once
	closed  bool
}

// New returns a Server answering from src with cfg, logging to logger.
func New(src Source, cfg Config, logger zerolog.Logger) *Server {
	domain := cfg.Domain
	if domain == "" {
		domain = DefaultDomain
	}
	maxTCP := cfg.MaxConnections
	if maxTCP <= 0 {
		maxTCP = DefaultMaxConnections
	}
	return &Server{
		src:    src,
		log:    logger,
		domain: strings.ToLower(mdns.Fqdn(domain)),
		ttl:    uint32(cfg.TTL / time.Second),
		maxTCP: maxTCP,
		ready:  make(chan struct{}),
	}
}

// Listen opens addr (HOST:PORT) on UDP and TCP, on the same port. Port 0
// picks one free on both.
func Listen(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns address %q: %w", addr, err)
	}
	for try := 0; ; try++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: listen on udp %s: %w", addr, err)
		}
		tcpAddr := addr
		if port == "0" {
			_, p, _ := net.SplitHostPort(pc.LocalAddr().String())
			tcpAddr = net.JoinHostPort(host, p)
		}
		ln, err := net.Listen("tcp", tcpAddr)
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || try == 10 {
			return nil, nil, fmt.Errorf("dns: listen on tcp %s: %w", tcpAddr, err)
		}
	}
}

// Serve answers queries on pc (UDP) and ln (TCP, at most
// Config.MaxConnections open at once) until Shutdown, after which it
// returns nil. It closes both.
func (s *Server) Serve(pc net.PacketConn, ln net.Listener) error {
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	udp := &mdns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: notify}
	tcp := &mdns.Server{
		Listener: newLimitListener(ln, s.maxTCP, s.log), Handler: s, NotifyStartedFunc: notify,
		ReadTimeout: tcpReadTimeout, WriteTimeout: tcpWriteTimeout, MaxTCPQueries: tcpMaxQueries,
		IdleTimeout: func() time.Duration { return tcpIdleTimeout },
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		pc.Close()
		ln.Close()
		return nil
	}
	s.servers = []*mdns.Server{udp, tcp}
	s.mu.Unlock()

	errs := make(chan error, 2)
	go func() { errs <- udp.ActivateAndServe() }()
	go func() { errs <- tcp.ActivateAndServe() }()
	var first error
	for up, done := 0, 0; done < 2; {
		var err error
		select {
		case <-started:
			if up++; up == 2 {
				s.markReady()
			}
			continue
		case err = <-errs:
			done++
		}
		if err != nil && first == nil {
			first = err
			s.markReady() // Shutdown must not wait for a server that failed
			// One transport failed: stop the other too.
			go func() {
				for _, srv := range []*mdns.Server{udp, tcp} {
					_ = srv.ShutdownContext(context.Background())
				}
			}()
		}
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed || first == nil {
		return nil
	}
	return fmt.Errorf("dns: serve: %w", first)
}

func (s *Server) markReady() { s.readyMu.Do(func() { close(s.ready) }) }

// Shutdown stops both listeners and waits until the queries in flight
// are answered or ctx ends. It is safe to call more than once, and before
// Serve.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	servers := s.servers
	s.mu.Unlock()
	if servers == nil {
		return nil
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	var errs []error
	for _, srv := range servers {
		if err := srv.ShutdownContext(ctx); err != nil && !isNotStarted(err) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dns: shutdown: %w", err)
	}
	return nil
}

// isNotStarted reports miekg/dns's error for a server that is not
// running (one that failed to start, or was shut down already).
func isNotStarted(err error) bool {
	return strings.Contains(err.Error(), "server not started")
}
