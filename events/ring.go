package events

import (
	"sync"
	"time"
)

// DefaultRingSize is how many recent events the agent keeps for
// GET /v1/events. It is the floor the HTTP API promises (at least 1024) with
// room for a burst of joins; each event costs a few hundred bytes.
const DefaultRingSize = 4096

// subscriberBuffer is how many events a live subscriber may fall behind
// before it is cut off. A cut-off subscriber resumes with ?since=ID.
const subscriberBuffer = 256

// Ring keeps the most recent events, stamps new ones with an id and a time,
// and fans them out to live subscribers without ever blocking the publisher.
type Ring struct {
	mu     sync.Mutex
	buf    []Event // grows by append up to size, then wraps
	size   int     // how many events are kept
	start  int     // index of the oldest event in buf once full
	nextID uint64
	subs   map[*Subscription]struct{}
	now    func() time.Time
}

// NewRing returns a ring keeping the last size events (DefaultRingSize when
// size <= 0), numbering them from 1.
func NewRing(size int) *Ring {
	return NewRingFrom(size, 1)
}

// NewRingFrom is NewRing with the first event id given. The agent starts
// from the boot time in microseconds, so ids keep increasing across
// restarts and a client resuming with ?since=ID or Last-Event-ID after a
// restart misses nothing.
func NewRingFrom(size int, first uint64) *Ring {
	if size <= 0 {
		size = DefaultRingSize
	}
	if first == 0 {
		first = 1
	}
	// buf grows as events come (append doubles it) instead of being
	// allocated whole: a full default ring is about 512 KiB, which an idle
	// agent would carry from its first second, raising its heap and with
	// it the garbage collector's target.
	return &Ring{size: size, nextID: first, subs: map[*Subscription]struct{}{}, now: time.Now}
}

// Publish stamps ev with the next id and the current time, keeps it, and
// hands it to every subscriber. It never blocks: a subscriber whose buffer
// is full is closed and must resume with Since.
func (r *Ring) Publish(ev Event) Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev.ID = r.nextID
	r.nextID++
	if ev.Time.IsZero() {
		ev.Time = r.now().UTC()
	}
	if len(r.buf) < r.size {
		r.buf = append(r.buf, ev)
	} else {
		r.buf[r.start] = ev
		r.start = (r.start + 1) % len(r.buf)
	}
	for s := range r.subs {
		select {
		case s.ch <- ev:
		default:
			delete(r.subs, s)
			s.lagged = true
			close(s.ch)
		}
	}
	return ev
}

// Since returns the kept events with an id above since, oldest first.
func (r *Ring) Since(since uint64) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sinceLocked(since)
}

func (r *Ring) sinceLocked(since uint64) []Event {
	out := []Event{}
	n := len(r.buf)
	for i := 0; i < n; i++ {
		ev := r.buf[(r.start+i)%n]
		if ev.ID > since {
			out = append(out, ev)
		}
	}
	return out
}

// LastID returns the id of the newest event, 0 when there is none.
func (r *Ring) LastID() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nextID - 1
}

// Subscription is a live feed of events from a Ring.
type Subscription struct {
	ch     chan Event
	lagged bool
	ring   *Ring
}

// C delivers events; it is closed when the subscriber fell too far behind
// or was cancelled.
func (s *Subscription) C() <-chan Event { return s.ch }

// Lagged reports whether the feed was cut off because its reader fell
// behind. Read it after C is closed.
func (s *Subscription) Lagged() bool {
	s.ring.mu.Lock()
	defer s.ring.mu.Unlock()
	return s.lagged
}

// Cancel ends the subscription.
func (s *Subscription) Cancel() {
	s.ring.mu.Lock()
	defer s.ring.mu.Unlock()
	if _, ok := s.ring.subs[s]; ok {
		delete(s.ring.subs, s)
		close(s.ch)
	}
}

// Subscribe returns the kept events above since and a live feed of the
// events after them, with no gap and no overlap between the two.
func (r *Ring) Subscribe(since uint64) ([]Event, *Subscription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &Subscription{ch: make(chan Event, subscriberBuffer), ring: r}
	r.subs[s] = struct{}{}
	return r.sinceLocked(since), s
}
