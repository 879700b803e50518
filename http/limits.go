package http

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/vigil-agent/vigil/internal/connlimit"
)

// Defaults of the API's resource caps; the agent's http_max_connections
// and http_max_streams.
const (
	// DefaultMaxConnections caps the API's open connections.
	DefaultMaxConnections = 256
	// DefaultMaxStreams caps the open GET /v1/events/stream responses.
	DefaultMaxStreams = 64
)

// WithMaxStreams caps the event streams open at once at n: one more is
// answered 429 with a JSON error. n <= 0 leaves streams uncapped.
func WithMaxStreams(n int) Option {
	return func(s *Server) {
		if n < 0 {
			n = 0
		}
		s.maxStreams = int64(n)
	}
}

// acquireStream takes a stream slot, or answers 429 and returns false.
// The caller must call releaseStream once the stream ends.
func (s *Server) acquireStream(w http.ResponseWriter) bool {
	n := s.streams.Add(1)
	if s.maxStreams > 0 && n > s.maxStreams {
		s.streams.Add(-1)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf(
			"too many event streams: this agent serves at most %d at once (http_max_streams); close one, or retry later", s.maxStreams))
		return false
	}
	return true
}

func (s *Server) releaseStream() { s.streams.Add(-1) }

// rejectDeadline bounds the answer to a connection over the cap: writing
// it (and, with TLS, the handshake before it) and draining what the
// client sent.
const rejectDeadline = time.Second

// maxRejecting caps the connections being answered 503 at once; past it,
// further connections over the cap are closed unanswered, so a flood
// costs no more than this many extra descriptors and goroutines.
const maxRejecting = 16

// LimitListener returns ln capped at max connections open at once (max
// <= 0: no cap). A connection over the cap is accepted, its request
// answered "503 Service Unavailable" with a JSON error and "Retry-After:
// 1", and closed, within a second or two (one that sends nothing within a
// second is closed unanswered); so an API flooded with connections keeps its
// descriptors for the rest of the process (gossip, joins, hooks). With
// tlsConfig the answer is sent over TLS: pass the listener below the TLS
// one, and the same configuration.
func LimitListener(ln net.Listener, max int, tlsConfig *tls.Config) net.Listener {
	if max <= 0 {
		return ln
	}
	body, _ := json.Marshal(ErrorResponse{Error: fmt.Sprintf(
		"too many connections: this agent serves at most %d API connections at once (http_max_connections); retry later", max)})
	body = append(body, '\n')
	reply := []byte(fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	return &limitListener{Listener: ln, slots: connlimit.New(max), tls: tlsConfig, reply: reply}
}

// limitListener is LimitListener's listener.
type limitListener struct {
	net.Listener
	slots     *connlimit.Slots
	tls       *tls.Config
	reply     []byte
	rejecting atomic.Int64
}

// Accept returns the next connection under the cap, answering those over
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
		if l.rejecting.Add(1) > maxRejecting {
			l.rejecting.Add(-1)
			c.Close()
			continue
		}
		go func() {
			defer l.rejecting.Add(-1)
			l.reject(c)
		}()
	}
}

// reject answers c with the 503 and closes it. The answer waits for the
// client's request (HTTP clients treat an answer that comes before their
// request as a broken connection); a client that sends nothing within
// rejectDeadline is closed unanswered. After the answer it reads what the
// client sends for a moment, so that closing a socket with unread data
// does not reset the connection before the client reads the answer.
func (l *limitListener) reject(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(rejectDeadline))
	conn := c
	if l.tls != nil {
		tc := tls.Server(c, l.tls)
		if tc.Handshake() != nil {
			return
		}
		conn = tc
	}
	buf := make([]byte, 4096)
	if n, _ := conn.Read(buf); n == 0 {
		return
	}
	_ = c.SetDeadline(time.Now().Add(rejectDeadline))
	if _, err := conn.Write(l.reply); err != nil {
		return
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(conn, 64<<10))
}
