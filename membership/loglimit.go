package membership

import (
	"bytes"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Junk on the gossip port (packets and streams that fail to decode,
// decrypt or check, from anyone who can reach it) makes memberlist and
// serf log one line per packet: 128k junk packets gave 97,716 lines in
// 5 s. logWriter passes those lines through a rejectLimiter: in each
// window of RejectedLogWindow, at most RejectedLogKindBurst lines of one
// kind and RejectedLogBurst lines of all kinds together are logged; the
// others are counted, and when the window ends each kind that had lines
// left out gets one summary line (RejectedLogSummary) with the count as
// "suppressed" and the last line left out as "last". So a flood costs at
// most RejectedLogBurst lines plus one per kind every 10 s, and a
// misconfigured peer (another gossip key) still shows its first lines at
// once and a count every 10 s. docs/security.md says the same.
const (
	// RejectedLogWindow is the window of the limit.
	RejectedLogWindow = 10 * time.Second
	// RejectedLogBurst is how many lines of rejected input, of all kinds,
	// are logged in one window.
	RejectedLogBurst = 10
	// RejectedLogKindBurst is how many lines of one kind are logged in
	// one window.
	RejectedLogKindBurst = 3
	// RejectedLogSummary is the message of the summary line of a kind.
	RejectedLogSummary = "rejected gossip input: more lines of this kind were not logged"
)

// rejectedKinds are the starts of the lines (after "memberlist: " or
// "serf: ") that report input memberlist or serf rejected, each a kind of
// its own; they are memberlist's (net.go, net_transport.go, label.go) and
// serf's (delegate.go) texts for packets and streams that fail to read,
// decode, decrypt or check. A longer start comes before a shorter one it
// begins with.
var rejectedKinds = map[string][]string{
	"memberlist": {
		"failed to receive and remove the stream label header",
		"failed to receive", // a stream: bad message, failed decryption
		"Failed to send error",
		"Failed to receive user message",
		"Too many pending push/pull requests",
		"Failed to read remote state",
		"Failed push/pull merge",
		"Failed to decode", // ping, ping request, indirect ping request, ack, nack, suspect, alive, dead, compound
		"Failed to decompress payload",
		// Answers to a junk ping or ping request (an address that is not
		// one) fail too.
		"Failed to send ack",
		"Failed to send nack",
		"Failed to send indirect ping",
		"Failed to forward ack",
		"Got ping for unexpected node",
		"Received invalid msgType",
		"cannot decode label",
		"label header cannot be empty",
		"unexpected double",
		"discarding",
		"Decrypt packet failed",
		"Got invalid checksum",
		"missing message type byte",
		"handler queue full",
		"msg type",
		"Message type",
		"Compound request had",
		"UDP packet too short",
		"Remote node state size is",
	},
	"serf": {
		"Error decoding",
		"Received message of unknown type",
		"Remote state is zero bytes",
		"Remote state has bad type prefix",
		"Failed to decode remote state",
	},
}

// rejectedKind returns the kind of a line (without its level) that
// reports rejected input, or "".
func rejectedKind(line []byte) string {
	for component, starts := range rejectedKinds {
		rest, ok := bytes.CutPrefix(line, []byte(component+": "))
		if !ok {
			continue
		}
		for _, s := range starts {
			if bytes.HasPrefix(rest, []byte(s)) {
				return component + ": " + s
			}
		}
	}
	return ""
}

// rejectLimiter limits the lines of rejected input a logWriter logs (see
// RejectedLogWindow).
type rejectLimiter struct {
	logger zerolog.Logger
	window time.Duration

	mu    sync.Mutex
	start time.Time // of the current window
	total int       // lines logged in it
	kinds map[string]*rejectedLines
	timer *time.Timer // ends a window that left lines out
}

type rejectedLines struct {
	logged, suppressed int
	level              zerolog.Level
	last               string
}

func newRejectLimiter(logger zerolog.Logger) *rejectLimiter {
	return &rejectLimiter{logger: logger, window: RejectedLogWindow, kinds: map[string]*rejectedLines{}}
}

// allow reports whether a line of kind may be logged now; when not, it
// is counted for the window's summary.
func (l *rejectLimiter) allow(kind string, line []byte, level zerolog.Level) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer == nil && now.Sub(l.start) >= l.window {
		l.start, l.total = now, 0
		clear(l.kinds)
	}
	k := l.kinds[kind]
	if k == nil {
		k = &rejectedLines{}
		l.kinds[kind] = k
	}
	if k.logged < RejectedLogKindBurst && l.total < RejectedLogBurst {
		k.logged++
		l.total++
		return true
	}
	if k.suppressed == 0 || level > k.level {
		k.level = level
	}
	k.suppressed++
	k.last = string(line)
	if l.timer == nil {
		l.timer = time.AfterFunc(l.start.Add(l.window).Sub(now), l.flush)
	}
	return false
}

// flush ends a window: one summary line for each kind with lines left
// out, and a new window from now.
func (l *rejectLimiter) flush() {
	l.mu.Lock()
	type summary struct {
		kind string
		rejectedLines
	}
	var out []summary
	for kind, k := range l.kinds {
		if k.suppressed > 0 {
			out = append(out, summary{kind, *k})
		}
	}
	l.start, l.total, l.timer = time.Now(), 0, nil
	clear(l.kinds)
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].kind < out[j].kind })
	for _, s := range out {
		ev := l.logger.WithLevel(s.level).Str("kind", s.kind).Int("suppressed", s.suppressed).
			Str("window", l.window.String()).Str("last", s.last)
		if hint := encryptionHint(s.last); hint != "" {
			ev = ev.Str("hint", hint)
		}
		ev.Msg(RejectedLogSummary)
	}
}
