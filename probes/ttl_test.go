package probes

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestUpdateTTL(t *testing.T) {
	m, log := newTestManager(t, Definition{ID: "beat", TTL: Duration(time.Minute)})
	m.Start()
	steps := []struct {
		status Status
		note   string
	}{
		{Passing, "all good"},
		{Passing, "still good"}, // no change
		{Warning, "queue is long"},
		{Critical, "db down"},
		{Critical, "db still down"}, // no change
		{Passing, ""},
	}
	for _, s := range steps {
		if err := m.UpdateTTL("beat", s.status, s.note); err != nil {
			t.Fatal(err)
		}
		st, _ := m.Check("beat")
		if st.Status != s.status || st.Output != s.note {
			t.Errorf("after %s %q: state %+v", s.status, s.note, st)
		}
	}
	want := []Change{
		{ID: "beat", Previous: Critical, Status: Passing, Output: "all good"},
		{ID: "beat", Previous: Passing, Status: Warning, Output: "queue is long"},
		{ID: "beat", Previous: Warning, Status: Critical, Output: "db down"},
		{ID: "beat", Previous: Critical, Status: Passing, Output: ""},
	}
	if got := log.list(); !slices.Equal(got, want) {
		t.Errorf("changes\n got %+v\nwant %+v", got, want)
	}
	if st, _ := m.Check("beat"); st.ConsecutiveSuccesses != 1 || st.ConsecutiveFailures != 0 {
		t.Errorf("counters %+v", st)
	}

	long := strings.Repeat("x", MaxOutput+100)
	if err := m.UpdateTTL("beat", Passing, long); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.Check("beat"); len(st.Output) != MaxOutput {
		t.Errorf("note kept %d bytes, want %d", len(st.Output), MaxOutput)
	}
}

func TestUpdateTTLErrors(t *testing.T) {
	m, _ := newTestManager(t,
		Definition{ID: "beat", TTL: Duration(time.Minute)},
		Definition{ID: "db", TCP: "127.0.0.1:1"},
	)
	tests := []struct {
		name, id string
		status   Status
		want     error
		msg      string
	}{
		{"unknown id", "nope", Passing, ErrUnknownCheck, "check nope: unknown check"},
		{"not a ttl check", "db", Passing, ErrNotTTL, "check db: not a ttl check"},
		{"bad status", "beat", "fine", nil, `check beat: status "fine"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.UpdateTTL(tt.id, tt.status, "")
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want %v %q", err, tt.want, tt.msg)
			}
		})
	}
	m.Stop()
	if err := m.UpdateTTL("beat", Passing, ""); !errors.Is(err, ErrStopped) {
		t.Errorf("after Stop: error %v, want ErrStopped", err)
	}
}

func TestTTLExpiry(t *testing.T) {
	t.Parallel()
	m, log := newTestManager(t, Definition{ID: "beat", TTL: Duration(time.Second)})
	m.Start()
	if err := m.UpdateTTL("beat", Passing, "ok"); err != nil {
		t.Fatal(err)
	}
	updated := time.Now()
	waitFor(t, 5*time.Second, "the TTL to expire", func() bool { return m.Status() == Critical })
	if el := time.Since(updated); el < time.Second {
		t.Errorf("expired after %s, before the 1s TTL", el)
	}
	st, _ := m.Check("beat")
	if st.Output != "TTL expired (no update in 1s)" {
		t.Errorf("output %q", st.Output)
	}
	want := []Change{
		{ID: "beat", Previous: Critical, Status: Passing, Output: "ok"},
		{ID: "beat", Previous: Passing, Status: Critical, Output: "TTL expired (no update in 1s)"},
	}
	// The change is reported just after the status is set.
	waitFor(t, 5*time.Second, "the expiry to be reported", func() bool { return len(log.list()) >= len(want) })
	if got := log.list(); !slices.Equal(got, want) {
		t.Errorf("changes\n got %+v\nwant %+v", got, want)
	}

	// An update brings it back and restarts the timer.
	if err := m.UpdateTTL("beat", Passing, "back"); err != nil {
		t.Fatal(err)
	}
	if m.Status() != Passing {
		t.Errorf("status %s after an update", m.Status())
	}
}

// TestTTLUpdateRestartsTimer: every update restarts the TTL, so the check
// never expires less than one TTL after the last update before it. The
// property holds however slow the machine: a late heartbeat may let the
// check expire, but never sooner than one TTL after the update before it
// (a timer that an update did not restart expires one TTL after Start,
// 200 ms after the third update here).
func TestTTLUpdateRestartsTimer(t *testing.T) {
	t.Parallel()
	const ttl = time.Second
	var (
		mu       sync.Mutex
		expiries []time.Time
	)
	m, err := NewManager([]Definition{{ID: "beat", TTL: Duration(ttl)}}, func(c Change) {
		if c.Status == Critical {
			mu.Lock()
			expiries = append(expiries, time.Now())
			mu.Unlock()
		}
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	updates := []time.Time{time.Now()} // Start counts as an update
	m.Start()
	for range 5 {
		time.Sleep(400 * time.Millisecond) // the service's heartbeat interval
		updates = append(updates, time.Now())
		if err := m.UpdateTTL("beat", Passing, "tick"); err != nil {
			t.Fatal(err)
		}
	}
	// The change is reported just after the status is set: wait for the
	// report, not the status (a -count=3 run read the expiries between
	// the two and found none).
	waitFor(t, 10*time.Second, "the TTL's expiry after the last update to be reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(expiries) > 0
	})
	if st := m.Status(); st != Critical {
		t.Errorf("status %s after the expiry was reported", st)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, at := range expiries {
		var last time.Time
		for _, u := range updates {
			if u.Before(at) {
				last = u
			}
		}
		if gap := at.Sub(last); gap < ttl {
			t.Errorf("expired %s after the update before it, less than the TTL %s: the update did not restart the timer", gap, ttl)
		}
	}
}

func TestTTLExpiresWithoutAnyUpdate(t *testing.T) {
	t.Parallel()
	m, log := newTestManager(t, Definition{ID: "beat", TTL: Duration(time.Second), InitialStatus: Passing})
	m.Start()
	waitFor(t, 5*time.Second, "the TTL to expire", func() bool { return m.Status() == Critical })
	// The change is reported just after the status is set.
	waitFor(t, 5*time.Second, "the expiry to be reported", func() bool { return len(log.list()) >= 1 })
	if got := log.list(); len(got) != 1 || got[0].Output != "TTL expired (no update in 1s)" {
		t.Errorf("changes %+v", got)
	}
}
