package consul

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// view holds the index of the cluster's service view: a number that
// grows whenever the instances (any service's, any field) change, the
// X-Consul-Index of every answer. It starts at the time in microseconds,
// so an agent that restarts never goes back to an index a client holds
// from its previous run. One index for every endpoint: a change of one
// service wakes the blocking queries of every service, which Consul's
// clients allow (they compare what they got).
type view struct {
	src  Source
	poll time.Duration
	done <-chan struct{}

	mu      sync.Mutex
	index   uint64
	hash    uint64
	changed chan struct{} // closed when index moves on
	waiters int           // blocking queries waiting
	polling bool          // the poller runs
	wake    chan struct{}
}

func (v *view) init(src Source, poll time.Duration, done <-chan struct{}) {
	v.src, v.poll, v.done = src, poll, done
	v.wake = make(chan struct{}, 1)
}

// snapshot returns the index, the instances sorted by service and node,
// and a channel closed when the index moves past this one.
func (v *view) snapshot() (uint64, []Instance, <-chan struct{}) {
	list := v.src.Instances()
	slices.SortFunc(list, func(a, b Instance) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Node, b.Node))
	})
	h := fnv.New64a()
	_ = json.NewEncoder(h).Encode(list) // maps are encoded in key order
	sum := h.Sum64()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.index == 0 || sum != v.hash {
		v.hash = sum
		next := uint64(time.Now().UnixMicro())
		if next <= v.index {
			next = v.index + 1
		}
		v.index = next
		if v.changed != nil {
			close(v.changed)
		}
		v.changed = make(chan struct{})
	}
	return v.index, list, v.changed
}

// blockingParams reads ?index= and ?wait=: 0 and no wait when there is
// no index (or 0).
func blockingParams(r *http.Request) (uint64, time.Duration, error) {
	q := r.URL.Query()
	s := q.Get("index")
	if s == "" {
		return 0, 0, nil
	}
	index, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid index %q: want a number", s)
	}
	wait := defaultWait
	if w := q.Get("wait"); w != "" {
		if wait, err = time.ParseDuration(w); err != nil || wait < 0 {
			return 0, 0, fmt.Errorf("invalid wait %q: want a duration such as 60s or 60000ms", w)
		}
	}
	wait = min(wait, maxWait)
	return index, wait, nil
}

// await returns the view as soon as its index is not index (at once when
// index is 0, or when the client's index is from before a restart or
// another agent), else when it changes, when wait (plus up to 1/16 of it)
// ends, or when the server stops. ok is false when the client went away.
func (v *view) await(ctx context.Context, index uint64, wait time.Duration) (uint64, []Instance, bool) {
	idx, list, changed := v.snapshot()
	if index == 0 || idx != index {
		return idx, list, true
	}
	if wait > 0 {
		wait += rand.N(wait/16 + 1)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	v.mu.Lock()
	v.waiters++
	if !v.polling {
		v.polling = true
		go v.poller()
	}
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
	defer func() {
		v.mu.Lock()
		v.waiters--
		v.mu.Unlock()
	}()
	select {
	case <-changed:
	case <-timer.C:
	case <-v.done:
	case <-ctx.Done():
		return 0, nil, false
	}
	idx, list, _ = v.snapshot()
	return idx, list, true
}

// poller compares the view every poll interval while a query waits; it
// sleeps while none does. Comparing (rather than following events) also
// sees the status changes serf makes without an event.
func (v *view) poller() {
	for {
		v.mu.Lock()
		n := v.waiters
		v.mu.Unlock()
		if n == 0 {
			select {
			case <-v.wake:
				continue
			case <-v.done:
				return
			}
		}
		select {
		case <-time.After(v.poll):
			v.snapshot()
		case <-v.done:
			return
		}
	}
}

// setQueryMeta sets the headers Consul's client reads after a query.
func setQueryMeta(w http.ResponseWriter, index uint64) {
	h := w.Header()
	h.Set("X-Consul-Index", strconv.FormatUint(index, 10))
	h.Set("X-Consul-KnownLeader", "true")
	h.Set("X-Consul-LastContact", "0")
}
