// Package connlimit counts the connections a listener of the agent holds
// open against a cap: the HTTP API (which answers one over the cap with a
// 503), the Consul API (the same listener) and DNS over TCP (which closes
// it). What to do with a connection over the cap is each listener's own.
package connlimit

import (
	"net"
	"sync"
	"sync/atomic"
)

// Slots is a cap on connections open at once.
type Slots struct {
	max  int64
	open atomic.Int64
}

// New returns a cap of max connections.
func New(max int) *Slots { return &Slots{max: int64(max)} }

// Take gives c one of the slots, and returns c wrapped to give it back
// when closed (once, however often it is closed); false when every slot
// is taken, and then c is the caller's to refuse.
func (s *Slots) Take(c net.Conn) (net.Conn, bool) {
	if s.open.Add(1) > s.max {
		s.open.Add(-1)
		return c, false
	}
	return &conn{Conn: c, release: func() { s.open.Add(-1) }}, true
}

// Open returns how many slots are taken.
func (s *Slots) Open() int64 { return s.open.Load() }

// conn gives its slot back when closed.
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite shuts the sending side down when the connection can, as
// net/http does before closing a connection it answered an error on.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
