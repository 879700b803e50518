package hook

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Defaults of the user event rate limit (the agent's user_event_rate and
// user_event_burst).
const (
	// DefaultUserEventRate is how many user events of one name per
	// second, on average, run hooks (and may be fired through the API).
	DefaultUserEventRate = 10.0
	// DefaultUserEventBurst is how many user events of one name may come
	// at once before the rate applies.
	DefaultUserEventBurst = 50
	// MaxLimitedNames bounds the names a NameLimiter keeps a bucket for.
	// Event names come from the network: without a bound, a flood of
	// distinct names would grow the table without end. Names beyond it
	// (while the table is full of buckets still refilling) share one
	// bucket, so a spray of distinct names is limited as one name.
	MaxLimitedNames = 4096
)

// RateLimit is a token bucket's shape: Rate tokens a second, at most Burst
// held. The zero value (or a zero Rate or Burst) is no limit.
type RateLimit struct {
	// Rate is how many events a second pass, on average.
	Rate float64
	// Burst is how many pass at once after a quiet spell.
	Burst int
}

// Enabled reports whether the limit limits anything.
func (l RateLimit) Enabled() bool { return l.Rate > 0 && l.Burst > 0 }

// String writes the limit as "10/s per name, burst 50" ("off" when not
// enabled).
func (l RateLimit) String() string {
	if !l.Enabled() {
		return "off"
	}
	return strconv.FormatFloat(l.Rate, 'f', -1, 64) + "/s per name, burst " + strconv.Itoa(l.Burst)
}

// bucket is one name's tokens at a moment.
type bucket struct {
	tokens float64
	at     time.Time
}

// take refills b for the time since it was last used and takes one token
// if there is one.
func (b *bucket) take(l RateLimit, now time.Time) bool {
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = min(float64(l.Burst), b.tokens+dt*l.Rate)
	}
	if now.After(b.at) {
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// NameLimiter is a token bucket per name: each name may pass Rate times a
// second on average, Burst times at once. A nil NameLimiter, or one whose
// limit is not enabled, lets everything pass. Safe for concurrent use.
type NameLimiter struct {
	mu        sync.Mutex
	limit     RateLimit
	buckets   map[string]*bucket
	overflow  bucket // shared by the names beyond MaxLimitedNames
	lastSweep time.Time
	maxNames  int
}

// NewNameLimiter returns a limiter with the given limit.
func NewNameLimiter(l RateLimit) *NameLimiter {
	return &NameLimiter{limit: l, buckets: map[string]*bucket{}, maxNames: MaxLimitedNames, overflow: bucket{tokens: float64(l.Burst)}}
}

// Limit returns the limiter's limit.
func (n *NameLimiter) Limit() RateLimit {
	if n == nil {
		return RateLimit{}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.limit
}

// SetLimit changes the limit; every name starts again with a full bucket.
func (n *NameLimiter) SetLimit(l RateLimit) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.limit = l
	n.buckets = map[string]*bucket{}
	n.overflow = bucket{tokens: float64(l.Burst)}
}

// Allow takes one token from name's bucket at now; false means name is
// over the rate.
func (n *NameLimiter) Allow(name string, now time.Time) bool {
	if n == nil {
		return true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.limit.Enabled() {
		return true
	}
	b := n.buckets[name]
	if b == nil {
		if len(n.buckets) >= n.maxNames {
			n.sweep(now)
		}
		if len(n.buckets) >= n.maxNames {
			return n.overflow.take(n.limit, now)
		}
		b = &bucket{tokens: float64(n.limit.Burst), at: now}
		n.buckets[name] = b
	}
	return b.take(n.limit, now)
}

// sweep forgets the buckets that have refilled by now: a full bucket is
// what a name without one gets. It runs at most once per refill time, so
// a spray of new names against a full table costs O(1) per event between
// sweeps. Called with mu held.
func (n *NameLimiter) sweep(now time.Time) {
	refill := time.Duration(float64(n.limit.Burst) / n.limit.Rate * float64(time.Second))
	if now.Sub(n.lastSweep) < refill {
		return
	}
	n.lastSweep = now
	for name, b := range n.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*n.limit.Rate >= float64(n.limit.Burst) {
			delete(n.buckets, name)
		}
	}
}

// RateLimitedError is a user event refused because its name is over the
// rate limit.
type RateLimitedError struct {
	// Name is the user event's name.
	Name string
	// Limit is the limit it went over.
	Limit RateLimit
}

// Error names the event and the rate.
func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("user event %q is over the rate limit (%s): not fired; try again in a moment", e.Name, e.Limit)
}

// RetryAfter is how long until name's bucket has a token again, at most:
// one token's refill time.
func (e *RateLimitedError) RetryAfter() time.Duration {
	if !e.Limit.Enabled() {
		return 0
	}
	return time.Duration(float64(time.Second) / e.Limit.Rate)
}
