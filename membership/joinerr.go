package membership

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"time"
)

// JoinError is a join that reached no member: one plain reason per
// address, each naming its address, in one line; memberlist's error is
// kept for errors.Is/As.
type JoinError struct {
	// Addrs are the addresses the join was given.
	Addrs []string
	// Reasons says, per address memberlist tried, why it failed.
	Reasons []string
	err     error
}

// Error implements error.
func (e *JoinError) Error() string {
	return strings.Join(e.Reasons, "; ")
}

// Unwrap returns memberlist's error.
func (e *JoinError) Unwrap() error { return e.err }

// joinReason matches one of memberlist's per-address join errors.
var joinReason = regexp.MustCompile(`^failed to (join|resolve) (\S+): (.*)$`)

// newJoinError explains memberlist's multierror of a failed join: an
// address that answered HTTP (the agent's -http port given instead of its
// -bind port) says so instead of "received invalid msgType (72)".
func newJoinError(addrs []string, err error) error {
	var parts []error
	if me, ok := err.(interface{ WrappedErrors() []error }); ok {
		parts = me.WrappedErrors()
	} else {
		parts = []error{err}
	}
	je := &JoinError{Addrs: addrs, err: err}
	for _, p := range parts {
		reason := explainJoinFailure(p.Error())
		if m := joinReason.FindStringSubmatch(strings.TrimSpace(p.Error())); m != nil && m[1] == "join" &&
			strings.Contains(m[3], "i/o timeout") && answersHTTP(m[2], httpProbeTimeout) {
			reason = httpPortReason(m[2])
		}
		je.Reasons = append(je.Reasons, reason)
	}
	if len(je.Reasons) == 0 {
		return err
	}
	return je
}

// explainJoinFailure turns one of memberlist's per-address errors into a
// sentence that names the cause.
func explainJoinFailure(msg string) string {
	m := joinReason.FindStringSubmatch(strings.TrimSpace(msg))
	if m == nil {
		return msg
	}
	op, addr, why := m[1], m[2], m[3]
	why, _, _ = strings.Cut(why, " from=")
	switch {
	case op == "resolve":
		return fmt.Sprintf("%s: cannot resolve it: %s", addr, why)
	case strings.Contains(why, "invalid msgType (72)"):
		// 72 is 'H': the first byte of "HTTP/1.1 400 Bad Request".
		return httpPortReason(addr)
	case strings.Contains(why, "invalid msgType"):
		return fmt.Sprintf("%s answered, but not with vigil's or serf's gossip (%s)", addr, why)
	case strings.Contains(why, "connection refused"):
		return fmt.Sprintf("%s: connection refused (no agent listens on that port)", addr)
	case strings.Contains(why, "i/o timeout"):
		return fmt.Sprintf("%s: no answer (timed out; a firewall, or no host at that address?)", addr)
	}
	return fmt.Sprintf("%s: %s", addr, why)
}

// httpPortReason says that addr is an HTTP server, likely the agent's API.
func httpPortReason(addr string) string {
	return fmt.Sprintf("%s answered HTTP, not gossip: use the agent's -bind port (gossip), not its -http port", addr)
}

// httpProbeTimeout bounds answersHTTP.
const httpProbeTimeout = 500 * time.Millisecond

// answersHTTP reports whether an HTTP server listens at addr: it sends a
// request line and reads the start of the answer, "HTTP/" or a TLS record.
// A join to an HTTP port does not always get an answer: the server waits
// for the end of a request line, and memberlist's push/pull (without
// compression, or after a cluster name) may hold no newline, so the join
// times out instead of reading "HTTP/1.1 400"; only then is this asked.
func answersHTTP(addr string, timeout time.Duration) bool {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 5)
	n, _ := io.ReadFull(conn, buf)
	// 0x15 0x03: a TLS alert record, an HTTPS server answering plain text.
	return string(buf[:n]) == "HTTP/" || n >= 2 && buf[0] == 0x15 && buf[1] == 0x03
}
