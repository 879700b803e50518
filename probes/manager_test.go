package probes

import (
	"bufio"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// changeLog records the changes a manager reports.
type changeLog struct {
	mu      sync.Mutex
	changes []Change
}

func (l *changeLog) add(c Change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = append(l.changes, c)
}

func (l *changeLog) list() []Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.changes)
}

func (l *changeLog) count() int { return len(l.list()) }

// newTestManager builds a started manager whose checks run at once (no
// stagger) and are stopped when the test ends.
func newTestManager(t *testing.T, defs ...Definition) (*Manager, *changeLog) {
	t.Helper()
	log := &changeLog{}
	m, err := NewManager(defs, log.add, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	m.stagger = func(time.Duration) time.Duration { return 0 }
	t.Cleanup(m.Stop)
	return m, log
}

func TestNewManagerValidation(t *testing.T) {
	defs := []Definition{
		{ID: "ok", TCP: "127.0.0.1:1"},
		{ID: "fast", TCP: "127.0.0.1:1", Interval: Duration(500 * time.Millisecond)},
		{ID: "both", TCP: "127.0.0.1:1", HTTP: "http://127.0.0.1/"},
		{ID: "bad id!", TCP: "127.0.0.1:1"},
		{ID: "ok", Exec: []string{"/bin/true"}},
		{TTL: Duration(time.Minute)},
	}
	m, err := NewManager(defs, nil, zerolog.Nop())
	if err == nil || m != nil {
		t.Fatalf("NewManager = %v, %v; want an error", m, err)
	}
	for _, want := range []string{
		"check fast: interval 500ms: below the 1s minimum",
		"check both: kind: http, tcp are all set; set exactly one",
		`check bad id!: id "bad id!": want letters`,
		"check ok: id used by more than one check",
		"check #5: id: required",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestManagerEmpty(t *testing.T) {
	m, err := NewManager(nil, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	m.Start()
	t.Cleanup(m.Stop)
	if m.Status() != Passing || len(m.States()) != 0 {
		t.Errorf("status %s states %v", m.Status(), m.States())
	}
}

func TestManagerStatesAndStatus(t *testing.T) {
	m, _ := newTestManager(t,
		Definition{ID: "zeta", TTL: Duration(time.Minute), Notes: "batch job heartbeat"},
		Definition{ID: "alpha", TTL: Duration(time.Minute), InitialStatus: Passing},
		Definition{ID: "mid", TCP: "127.0.0.1:1", Interval: Duration(2 * time.Second)},
	)
	states := m.States()
	ids := []string{states[0].ID, states[1].ID, states[2].ID}
	if !slices.Equal(ids, []string{"alpha", "mid", "zeta"}) {
		t.Errorf("ids %v, want sorted", ids)
	}
	if s := states[1]; s.Kind != KindTCP || s.Interval != "2s" || s.Timeout != "10s" || s.TTL != "" || s.Status != Critical {
		t.Errorf("mid: %+v", s)
	}
	if s := states[2]; s.Kind != KindTTL || s.TTL != "1m0s" || s.Interval != "" || s.Notes != "batch job heartbeat" {
		t.Errorf("zeta: %+v", s)
	}
	if m.Status() != Critical {
		t.Errorf("status %s, want critical: the initial status of zeta and mid", m.Status())
	}
	if err := m.UpdateTTL("zeta", Warning, ""); err != nil {
		t.Fatal(err)
	}
	if st, err := m.Check("zeta"); err != nil || st.Status != Warning {
		t.Errorf("Check(zeta) = %+v, %v", st, err)
	}
	if _, err := m.Check("nope"); !errors.Is(err, ErrUnknownCheck) {
		t.Errorf("Check(nope) error %v", err)
	}
}

func TestManagerHTTPChanges(t *testing.T) {
	t.Parallel()
	var code atomic.Int32
	code.Store(200)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(int(code.Load()))
	}))
	t.Cleanup(srv.Close)

	m, log := newTestManager(t, Definition{ID: "web", HTTP: srv.URL, Interval: Duration(time.Second)})
	m.Start()
	waitFor(t, 3*time.Second, "the check to pass", func() bool { return m.Status() == Passing })

	code.Store(500)
	waitFor(t, 3*time.Second, "the check to turn critical", func() bool { return m.Status() == Critical })
	// Another critical run changes nothing: no further onChange.
	n := hits.Load()
	waitFor(t, 3*time.Second, "one more run", func() bool { return hits.Load() > n })
	waitFor(t, time.Second, "the run to be recorded", func() bool {
		st, _ := m.Check("web")
		return st.ConsecutiveFailures >= 2
	})

	got := log.list()
	want := []Change{
		{ID: "web", Previous: Critical, Status: Passing, Output: "HTTP GET " + srv.URL + ": 200 OK Output: "},
		{ID: "web", Previous: Passing, Status: Critical, Output: "HTTP GET " + srv.URL + ": 500 Internal Server Error Output: "},
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes\n got %+v\nwant %+v", got, want)
	}
	st, _ := m.Check("web")
	if st.LastRun.IsZero() || st.LastChange.IsZero() || st.LastRun.Before(st.LastChange) || st.ConsecutiveSuccesses != 0 {
		t.Errorf("state %+v", st)
	}
}

func TestManagerThresholdsHoldOutput(t *testing.T) {
	var code atomic.Int32
	code.Store(500)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(code.Load()))
	}))
	t.Cleanup(srv.Close)

	m, log := newTestManager(t, Definition{ID: "web", HTTP: srv.URL, Interval: Duration(time.Second),
		InitialStatus: Passing, FailuresBeforeCritical: 3})
	m.Start()
	waitFor(t, 3*time.Second, "the first run", func() bool {
		st, _ := m.Check("web")
		return st.ConsecutiveFailures == 1
	})
	st, _ := m.Check("web")
	// Held back at passing, but the output is the last run's.
	if st.Status != Passing || !strings.Contains(st.Output, "500 Internal Server Error") || log.count() != 0 {
		t.Errorf("after one failure: %+v, %d changes", st, log.count())
	}
}

func TestManagerNoOverlap(t *testing.T) {
	t.Parallel()
	logFile := filepath.Join(t.TempDir(), "runs.log")
	// Each run takes 1.3s with a 1s interval: the next run must wait.
	path := script(t, `echo "start $(date +%s%N)" >> "$1"
sleep 1.3
echo "end $(date +%s%N)" >> "$1"`)
	m, _ := newTestManager(t, Definition{ID: "slow", Exec: []string{path, logFile},
		Interval: Duration(time.Second), Timeout: Duration(3 * time.Second)})
	m.Start()
	waitFor(t, 10*time.Second, "three runs", func() bool {
		b, _ := os.ReadFile(logFile)
		return strings.Count(string(b), "end ") >= 3
	})
	m.Stop()

	f, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var kinds []string
	var last int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, ts, _ := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if n < last {
			t.Errorf("%s at %d is before the previous event at %d", kind, n, last)
		}
		last = n
		kinds = append(kinds, kind)
	}
	// Runs alternate start, end, start, end: never two starts in a row. The
	// last run may have been killed by Stop before its end.
	for i, k := range kinds {
		want := "start"
		if i%2 == 1 {
			want = "end"
		}
		if k != want {
			t.Fatalf("event %d is %q, want %q: runs overlapped (%v)", i, k, want, kinds)
		}
	}
}

func TestManagerStopKillsExec(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	path := script(t, `sleep 60 &
echo $! > "$1"
wait`)
	m, log := newTestManager(t, Definition{ID: "hang", Exec: []string{path, pidFile}, InitialStatus: Passing})
	m.Start()
	pid := readPID(t, pidFile)

	start := time.Now()
	m.Stop()
	if el := time.Since(start); el > execWaitDelay+2*time.Second {
		t.Errorf("Stop took %s", el)
	}
	waitFor(t, 5*time.Second, "the child "+pid+" to die", func() bool { return processGone(pid) })
	// The killed run is dropped, not recorded as a failure.
	if st, _ := m.Check("hang"); st.Status != Passing || !st.LastRun.IsZero() || log.count() != 0 {
		t.Errorf("after Stop: %+v, %d changes", st, log.count())
	}
	m.Stop() // idempotent
	m.Start()
	if st, _ := m.Check("hang"); !st.LastRun.IsZero() {
		t.Errorf("Start after Stop ran the check")
	}
}
