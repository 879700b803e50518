package dns

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/internal/connlimit"
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
	slots   *connlimit.Slots
	max     int
	log     zerolog.Logger
	refused atomic.Int64 // turned away since the last log line
	lastLog atomic.Int64 // unix nanoseconds of the last log line
}

func newLimitListener(ln net.Listener, max int, logger zerolog.Logger) *limitListener {
	return &limitListener{Listener: ln, slots: connlimit.New(max), max: max, log: logger}
}

// Accept returns the next connection under the cap, closing those over
// it on the way.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc, ok := l.slots.Take(c); ok {
			return lc, nil
		}
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
	l.log.Warn().Int64("refused", n).Int("dns_max_connections", l.max).
		Msg("dns: too many TCP connections, closing new ones")
}
