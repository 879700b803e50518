package dns

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// refusedLogEvery is how often, at most, a connection turned away over
// the cap is logged.
const refusedLogEvery = 10 * time.Second

// limitListener caps the TCP connections open at once: one over the cap
// is closed as soon as it is accepted, so a flood of connections costs at
// most max descriptors and goroutines (each of which the server closes
// after its idle timeout).
type limitListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	log     zerolog.Logger
	refused atomic.Int64 // turned away since the last log line
	lastLog atomic.Int64 // unix nanoseconds of the last log line
}

func newLimitListener(ln net.Listener, max int, logger zerolog.Logger) *limitListener {
	return &limitListener{Listener: ln, max: int64(max), log: logger}
}

// Accept returns the next connection under the cap, closing those over
// it on the way.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &limitedConn{Conn: c, release: func() { l.open.Add(-1) }}, nil
		}
		l.open.Add(-1)
		c.Close()
		l.noteRefused()
	}
}

// noteRefused counts a refused connection and logs the count at most
// every refusedLogEvery.
func (l *limitListener) noteRefused() {
	l.refused.Add(1)
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last < int64(refusedLogEvery) || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	n := l.refused.Swap(0)
	l.log.Warn().Int64("refused", n).Int64("dns_max_connections", l.max).
		Msg("dns: too many TCP connections, closing new ones")
}

// limitedConn gives its slot back when closed, once.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
