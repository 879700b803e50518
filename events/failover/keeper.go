package failover

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// LeaseKeeper keeps a lease alive for a Lock: it renews it every third of
// its length and closes Lost when no renewal succeeded by the deadline.
// The deadline is counted from when the last successful renewal was sent,
// which is no later than when the store renewed it, and is set to nine
// tenths of the lease: the run is stopped before the store can let the
// lease end and grant the task to another agent.
type LeaseKeeper struct {
	log zerolog.Logger

	mu       sync.Mutex
	deadline time.Time
	changed  chan struct{} // closed and replaced when deadline moves
	lost     chan struct{}
	stop     chan struct{}
	lostOnce sync.Once
	stopOnce sync.Once
}

// NewLeaseKeeper returns a keeper of a lease granted by a request sent at
// sent, for length; log carries the task's fields.
func NewLeaseKeeper(sent time.Time, length time.Duration, log zerolog.Logger) *LeaseKeeper {
	return &LeaseKeeper{log: log, deadline: Deadline(sent, length), changed: make(chan struct{}), lost: make(chan struct{}), stop: make(chan struct{})}
}

// LeaseDeadline returns the current deadline, by which the run must have
// stopped unless a renewal moves it, and a channel closed when it moves.
// The hook guard process is told each new deadline, so that the hook is
// killed in time even while the agent itself is stopped (SIGSTOP, a
// paused container) and cannot act.
func (k *LeaseKeeper) LeaseDeadline() (time.Time, <-chan struct{}) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.deadline, k.changed
}

// Deadline is when a lease of length granted by a request sent at sent
// must be given up: nine tenths of it later.
func Deadline(sent time.Time, length time.Duration) time.Time { return sent.Add(length * 9 / 10) }

// Lost is closed when the lease was lost.
func (k *LeaseKeeper) Lost() <-chan struct{} { return k.lost }

// MarkLost closes Lost, once, and logs why.
func (k *LeaseKeeper) MarkLost(why string) {
	k.lostOnce.Do(func() {
		k.log.Warn().Str("reason", why).Msg("failover lease lost: stopping the run")
		close(k.lost)
	})
}

// Stop ends the renewals; it reports whether this was the first call.
func (k *LeaseKeeper) Stop() bool {
	first := false
	k.stopOnce.Do(func() { close(k.stop); first = true })
	return first
}

// Renewal is what one renewal attempt found: a new deadline when it
// succeeded (zero when it did not), or why the lease is gone for good.
type Renewal struct {
	Deadline time.Time
	Gone     string
}

// Run renews every every until Stop: renew gets a context that ends at
// the current deadline. late is the reason logged when the deadline
// passes without a successful renewal.
func (k *LeaseKeeper) Run(every time.Duration, late string, renew func(ctx context.Context) Renewal) {
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		k.mu.Lock()
		deadline := k.deadline
		k.mu.Unlock()
		wait := min(every, time.Until(deadline))
		if wait <= 0 {
			k.MarkLost(late)
			return
		}
		t.Reset(wait)
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		if !time.Now().Before(deadline) {
			k.MarkLost(late)
			return
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		r := renew(ctx)
		cancel()
		select {
		case <-k.stop:
			return
		default:
		}
		switch {
		case r.Gone != "":
			k.MarkLost(r.Gone)
			return
		case !r.Deadline.IsZero():
			k.mu.Lock()
			k.deadline = r.Deadline
			close(k.changed)
			k.changed = make(chan struct{})
			k.mu.Unlock()
		}
	}
}
