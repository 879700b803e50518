package membership

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/serf/serf"
	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
)

// Limits on what members gossip. vigil checks its own configuration
// against them at start and refuses members and user events from other
// agents that exceed them (see mergeGate).
const (
	// MaxNameLen is the longest member name, in bytes: serf's own limit
	// when it validates names (serf.MaxNodeNameLength); memberlist sets
	// none.
	MaxNameLen = serf.MaxNodeNameLength
	// MaxTagKeyLen is the longest tag key, in bytes.
	MaxTagKeyLen = 64
	// MaxTagValueLen is the longest tag value, in bytes. All the tags
	// together are further limited to MaxTagsSize bytes encoded.
	MaxTagValueLen = 256
	// MaxEventNameLen is the longest user event name, in bytes.
	MaxEventNameLen = 128
)

// checkText returns why s is not acceptable as a name, key or value of at
// most max bytes: too long, empty (unless empty is allowed), not UTF-8, or
// holding a character that is not printable (a control character such as
// a newline or ESC, a format character such as a bidirectional override,
// or a space other than the ASCII space).
func checkText(what, s string, max int, allowEmpty bool) error {
	switch {
	case len(s) > max:
		return fmt.Errorf("%s is %d bytes long, over the limit of %d", what, len(s), max)
	case s == "" && !allowEmpty:
		return fmt.Errorf("%s is empty", what)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	for i, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%s has the unprintable character %U at byte %d", what, r, i)
		}
	}
	return nil
}

// CheckName returns an error when name is not a valid member name: 1 to
// MaxNameLen bytes of printable UTF-8 (letters, marks, numbers,
// punctuation, symbols and the ASCII space, as unicode.IsPrint defines
// them; no control characters).
func CheckName(name string) error {
	return checkText("member name", name, MaxNameLen, false)
}

// CheckTags returns an error naming the first tag that is not valid: keys
// 1 to MaxTagKeyLen bytes, values up to MaxTagValueLen bytes, both
// printable UTF-8 as for CheckName. It does not check the encoded size
// (see CheckTagsSize).
func CheckTags(tags map[string]string) error {
	for k, v := range tags {
		if err := CheckTagKey(k); err != nil {
			return err
		}
		if err := checkText("value of tag "+QuoteShort(k), v, MaxTagValueLen, true); err != nil {
			return err
		}
	}
	return nil
}

// CheckTagKey returns an error when k is not a valid tag key (see
// CheckTags).
func CheckTagKey(k string) error {
	return checkText("tag key "+QuoteShort(k), k, MaxTagKeyLen, false)
}

// CheckEventName returns an error when name is not a valid user event
// name: 1 to MaxEventNameLen bytes of printable UTF-8, as for CheckName.
func CheckEventName(name string) error {
	return checkText("user event name", name, MaxEventNameLen, false)
}

// StartUnchecked is Start without the gossip input check: the local
// member may have any name and tags, and it stores, lists and hands on
// members and user events with any. Tests use it to play an agent of a
// version without the check, or a forger; an agent never calls it.
func StartUnchecked(cfg Config, handler func(events.Event)) (*Cluster, error) {
	cfg.acceptInvalid = true
	return Start(cfg, handler)
}

// checkMember returns why a member another agent announced is refused.
func checkMember(name string, tags map[string]string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	return CheckTags(tags)
}

// QuoteShort quotes s with Go's escapes (strconv.Quote), cut to its first
// 64 bytes with the full length said, so that a log line or an error
// about a hostile name stays short and shows its control characters
// escaped.
func QuoteShort(s string) string {
	const keep = 64
	if len(s) <= keep {
		return strconv.Quote(s)
	}
	cut := keep
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// refusedMark is in every error the gate returns, so the memberlist log
// lines that repeat it can be dropped: the gate logs each refused member
// itself, at a bounded rate.
const refusedMark = "refused by vigil's gossip input check"

// errRefused is the error memberlist and serf get for a refused member. It
// names neither the member nor the reason, which the gate has logged.
var errRefused = errors.New(refusedMark + " (see the log line \"refusing a member\")")

// mergeGate is serf's MergeDelegate, which serf also installs as
// memberlist's alive delegate: it sees every member announcement (an
// alive message, or a join's push-pull state) before memberlist stores
// the member, and refuses those whose name or tags are not valid. A
// refused member is never stored, so it never reaches events, hooks or
// the API; its announcements are refused again each time they arrive, and
// logged once per member per refusalLogEvery.
type mergeGate struct {
	local    string // this member's name, let through unchecked
	refusals *refusals
}

// NotifyMerge implements serf.MergeDelegate. It is called with one member
// for an alive message, and with all of a peer's members for a join's
// push-pull. A refused single member fails that join (the peer alone is
// refused); in a larger merge, the valid members are let through and
// memberlist then offers each member to NotifyMerge alone, so that the
// invalid ones are refused one by one without refusing their cluster.
func (g *mergeGate) NotifyMerge(members []*serf.Member) error {
	if len(members) != 1 {
		return nil
	}
	m := members[0]
	if m.Name == g.local {
		return nil
	}
	if err := checkMember(m.Name, m.Tags); err != nil {
		g.refusals.report(true, m.Name, net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))), err.Error())
		return errRefused
	}
	return nil
}

// refusalLogEvery is how often the same refused member is logged again.
const refusalLogEvery = time.Hour

// maxRefusalsTracked bounds the refused members remembered (by the
// SHA-256 of the name) for rate limiting; beyond it, new refusals are
// counted and summed up in one line a minute.
const maxRefusalsTracked = 1024

// refusals logs refused members and user events: one line per name per
// refusalLogEvery, in bounded memory.
type refusals struct {
	logger zerolog.Logger
	now    func() time.Time

	mu          sync.Mutex
	seen        map[[32]byte]time.Time
	unlogged    int       // refusals not logged since lastSummary
	lastSummary time.Time // when unlogged was last reported
}

func newRefusals(logger zerolog.Logger) *refusals {
	return &refusals{logger: logger, now: time.Now, seen: map[[32]byte]time.Time{}}
}

// report logs that a member (member true) or a user event called name,
// from addr when known, was refused for reason, unless it was logged
// within refusalLogEvery.
func (r *refusals) report(member bool, name, addr, reason string) {
	if !r.due(name) {
		return
	}
	ev := r.logger.Warn().Str("name", QuoteShort(name)).Int("name_bytes", len(name)).Str("reason", reason)
	if addr != "" {
		ev = ev.Str("addr", addr)
	}
	what := "refusing a member from gossip: invalid name or tags; it is not stored, shown or passed to hooks"
	if !member {
		what = "refusing a user event from gossip: invalid name; no hook runs for it"
	}
	ev.Str("next_log_in", refusalLogEvery.String()).Msg(what)
}

// due reports whether a refusal of name should be logged now, and notes
// it.
func (r *refusals) due(name string) bool {
	h := sha256.Sum256([]byte(name))
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if last, ok := r.seen[h]; ok && now.Sub(last) < refusalLogEvery {
		return false
	}
	if len(r.seen) >= maxRefusalsTracked {
		for k, t := range r.seen {
			if now.Sub(t) >= refusalLogEvery {
				delete(r.seen, k)
			}
		}
	}
	if len(r.seen) >= maxRefusalsTracked {
		r.unlogged++
		if now.Sub(r.lastSummary) >= time.Minute {
			r.logger.Warn().Int("refused", r.unlogged).Msg("refusing more members or user events from gossip than are logged one by one")
			r.unlogged, r.lastSummary = 0, now
		}
		return false
	}
	r.seen[h] = now
	return true
}
