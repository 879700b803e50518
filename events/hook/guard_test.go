package hook

import (
	"cmp"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
)

// The test binary is the hook guard of its own guarded runs: re-executed
// as the guard, it runs it here. The "file" completer records a
// completion by writing spec's path.
func init() {
	GuardEntry(map[string]Completer{"file": func(_ context.Context, spec []byte) error {
		var s struct{ Path, Fail string }
		if err := json.Unmarshal(spec, &s); err != nil {
			return err
		}
		if s.Fail != "" {
			return &os.PathError{Op: "complete", Path: s.Path, Err: syscall.EIO}
		}
		return os.WriteFile(s.Path, []byte("done\n"), 0o600)
	}})
}

// leasedGuard is a LeasedGuard whose deadline the test moves, standing in
// for a coordinator's claimed run whose agent renews (or, stopped, does
// not): the guard process sees only the deadlines it is sent.
type leasedGuard struct {
	ctx    context.Context
	cancel context.CancelFunc
	spec   []byte

	mu       sync.Mutex
	deadline time.Time
	changed  chan struct{}
	expired  string
}

func newLeasedGuard(t *testing.T, d time.Duration, spec []byte) *leasedGuard {
	g := &leasedGuard{deadline: time.Now().Add(d), changed: make(chan struct{}), spec: spec}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	t.Cleanup(g.cancel)
	return g
}

func (g *leasedGuard) Context() context.Context { return g.ctx }

func (g *leasedGuard) Lost() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.expired != ""
}

func (g *leasedGuard) LeaseDeadline() (time.Time, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.deadline, g.changed
}

func (g *leasedGuard) LeaseExpired(why string) {
	g.mu.Lock()
	g.expired = why
	g.mu.Unlock()
	g.cancel()
}

func (g *leasedGuard) Completion() (string, []byte) {
	if g.spec == nil {
		return "", nil
	}
	return "file", g.spec
}

// renew moves the deadline to d from now.
func (g *leasedGuard) renew(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deadline = time.Now().Add(d)
	close(g.changed)
	g.changed = make(chan struct{})
}

// finishedCoordinator is a Coordinator that only collects Finished.
type finishedCoordinator struct {
	finished chan events.Run
}

func (c *finishedCoordinator) Observe(*events.Event) bool       { return false }
func (c *finishedCoordinator) Guards(*Hook, *events.Event) bool { return false }
func (c *finishedCoordinator) Submit(string, events.Event)      {}
func (c *finishedCoordinator) Resume(string, events.Event)      {}
func (c *finishedCoordinator) HooksChanged([]Hook)              {}
func (c *finishedCoordinator) Finished(_ string, _ *events.Event, _ RunGuard, final events.Run) {
	c.finished <- final
}

// alive reports whether the process whose pid is in file still exists.
func alive(t *testing.T, file string) bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	return syscall.Kill(pid, 0) == nil && !isZombie(pid)
}

func TestGuardedRun(t *testing.T) {
	type result struct {
		outcome     events.Outcome
		exitCode    int
		errorHas    string
		expired     bool // the guard said the lease expired
		completed   bool // the guard recorded the completion
		leftRunning bool // a process the hook started in the background still runs
	}
	tests := []struct {
		name     string
		shell    string
		timeout  time.Duration
		lease    time.Duration
		renew    bool // renew every lease/3 like a running agent
		complete string
		want     result
	}{
		{name: "a stopped agent's lease ends: the guard kills the hook and its children",
			shell: "sleep 300 & echo $! > $DIR/child; sleep 300", lease: time.Second,
			want: result{outcome: events.OutcomeCancelled, exitCode: -1, errorHas: "deadline passed", expired: true}},
		{name: "a renewing agent's run goes on past the first deadline",
			shell: "sleep 2; echo ran", lease: 900 * time.Millisecond, renew: true,
			want: result{outcome: events.OutcomeOK}},
		{name: "a completed run is recorded by the guard",
			shell: "echo ran", lease: 10 * time.Second, complete: "ok",
			want: result{outcome: events.OutcomeOK, completed: true}},
		{name: "a failed run is not recorded as completed",
			shell: "exit 3", lease: 10 * time.Second, complete: "ok",
			want: result{outcome: events.OutcomeFailed, exitCode: 3}},
		{name: "a completion the guard cannot record is reported",
			shell: "echo ran", lease: 10 * time.Second, complete: "fail",
			want: result{outcome: events.OutcomeOK, errorHas: "guard could not record"}},
		{name: "the hook gets its stdin, and not the guard's variable or pipes",
			shell: "grep -q primary || exit 7; env | grep -q " + guardEnv + " && exit 8; for fd in 3 4; do [ -e /proc/$$/fd/$fd ] && exit 9; done; exit 0",
			lease: 10 * time.Second, want: result{outcome: events.OutcomeOK}},
		{name: "the hook's timeout still kills through the guard",
			shell: "sleep 300 & echo $! > $DIR/child; sleep 300", timeout: time.Second, lease: time.Minute,
			want: result{outcome: events.OutcomeTimeout, exitCode: -1, errorHas: "killed after timeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var spec []byte
			if tc.complete != "" {
				spec, _ = json.Marshal(map[string]string{"path": filepath.Join(dir, "completed"), "fail": strings.TrimPrefix(tc.complete, "ok")})
			}
			coord := &finishedCoordinator{finished: make(chan events.Run, 1)}
			r, err := NewRunner(RunnerConfig{KillGrace: time.Second, Logger: zerolog.Nop(), Env: []string{"DIR=" + dir, "PATH=" + os.Getenv("PATH")},
				Coordinate: func(CoordinatedRunner) Coordinator { return coord }},
				[]Hook{{Name: "promote", Shell: tc.shell, Timeout: cmp.Or(tc.timeout, time.Minute)}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				r.Close(ctx)
			})
			g := newLeasedGuard(t, tc.lease, spec)
			if tc.renew {
				stop := make(chan struct{})
				t.Cleanup(func() { close(stop) })
				go func() {
					tick := time.NewTicker(tc.lease / 3)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							g.renew(tc.lease)
						}
					}
				}()
			}
			if !r.Enqueue("promote", failedEvent(1, "primary"), g) {
				t.Fatal("enqueue refused")
			}
			var run events.Run
			select {
			case run = <-coord.finished:
			case <-time.After(30 * time.Second):
				t.Fatal("the guarded run did not end in 30 s")
			}
			got := result{outcome: run.Outcome, exitCode: run.ExitCode, expired: g.Lost()}
			if tc.want.errorHas != "" && strings.Contains(run.Error+run.Reason, tc.want.errorHas) {
				got.errorHas = tc.want.errorHas
			}
			if _, err := os.Stat(filepath.Join(dir, "completed")); err == nil {
				got.completed = true
			}
			if _, err := os.Stat(filepath.Join(dir, "child")); err == nil {
				got.leftRunning = alive(t, filepath.Join(dir, "child"))
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v (run %+v)", got, tc.want, run)
			}
		})
	}
}

// plainGuard is a RunGuard without a lease: its run is not guarded.
type plainGuard struct{ ctx context.Context }

func (g plainGuard) Context() context.Context { return g.ctx }
func (g plainGuard) Lost() bool               { return false }

// BenchmarkGuardedRun measures what the hook guard adds to a failover
// run: one coordinated run of `true`, from Enqueue to Finished, with and
// without a lease (the guard process is this test binary re-executed;
// docs/benchmarks.md has the figure for the vigil binary).
func BenchmarkGuardedRun(b *testing.B) {
	for _, tc := range []struct {
		name   string
		leased bool
	}{{"unguarded", false}, {"guarded", true}} {
		b.Run(tc.name, func(b *testing.B) {
			coord := &finishedCoordinator{finished: make(chan events.Run, 1)}
			r, err := NewRunner(RunnerConfig{Logger: zerolog.Nop(), Coordinate: func(CoordinatedRunner) Coordinator { return coord }},
				[]Hook{{Name: "promote", Command: []string{"true"}, Timeout: time.Minute}})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				r.Close(ctx)
			})
			for i := 0; i < b.N; i++ {
				var g RunGuard = plainGuard{context.Background()}
				if tc.leased {
					lg := &leasedGuard{deadline: time.Now().Add(time.Minute), changed: make(chan struct{})}
					lg.ctx, lg.cancel = context.WithCancel(context.Background())
					g = lg
				}
				r.Enqueue("promote", failedEvent(uint64(i+1), "primary"), g)
				if run := <-coord.finished; run.Outcome != events.OutcomeOK {
					b.Fatalf("run: %+v", run)
				}
			}
		})
	}
}

// TestGuardStartErrno: a start that failed inside the guard comes back
// with its errno, so a start that lacked a resource is tried again as an
// unguarded one is (lacksResource), and another is not.
func TestGuardStartErrno(t *testing.T) {
	for _, tc := range []struct {
		errno syscall.Errno
		retry bool
	}{{syscall.EMFILE, true}, {syscall.EAGAIN, true}, {syscall.ENOENT, false}, {0, false}} {
		var run events.Run
		err := guardReport(&run, guardStatus{StartError: "fork/exec /x: " + tc.errno.Error(), StartErrno: int(tc.errno)}, nil)
		if err == nil || run.Outcome != events.OutcomeError || !strings.HasPrefix(run.Error, "start: fork/exec /x") {
			t.Errorf("errno %d: err %v, run %+v", tc.errno, err, run)
		}
		if got := lacksResource(err); got != tc.retry {
			t.Errorf("errno %d (%v): tried again %v, want %v", tc.errno, tc.errno, got, tc.retry)
		}
	}
}
