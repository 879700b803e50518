package membership

import (
	"fmt"
	"regexp"
	"strings"
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
		je.Reasons = append(je.Reasons, explainJoinFailure(p.Error()))
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
		return fmt.Sprintf("%s answered HTTP, not gossip: use the agent's -bind port (gossip), not its -http port", addr)
	case strings.Contains(why, "invalid msgType"):
		return fmt.Sprintf("%s answered, but not with vigil's or serf's gossip (%s)", addr, why)
	case strings.Contains(why, "connection refused"):
		return fmt.Sprintf("%s: connection refused (no agent listens on that port)", addr)
	case strings.Contains(why, "i/o timeout"):
		return fmt.Sprintf("%s: no answer (timed out; a firewall, or no host at that address?)", addr)
	}
	return fmt.Sprintf("%s: %s", addr, why)
}
