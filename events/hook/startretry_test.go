package hook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/journal"

	"github.com/rs/zerolog"
)

// TestLacksResource: the start errors a hook start is tried again for,
// as os/exec returns them, and some it is not.
func TestLacksResource(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"pipe2 out of descriptors", &os.SyscallError{Syscall: "pipe2", Err: syscall.EMFILE}, true},
		{"system file table full", &os.SyscallError{Syscall: "pipe2", Err: syscall.ENFILE}, true},
		{"fork without a process slot", &os.PathError{Op: "fork/exec", Path: "/bin/sh", Err: syscall.EAGAIN}, true},
		{"fork without memory", &os.PathError{Op: "fork/exec", Path: "/bin/sh", Err: syscall.ENOMEM}, true},
		{"wrapped", fmt.Errorf("start: %w", &os.SyscallError{Syscall: "pipe2", Err: syscall.EMFILE}), true},
		{"no such program", &os.PathError{Op: "fork/exec", Path: "/nope", Err: syscall.ENOENT}, false},
		{"not executable", &os.PathError{Op: "fork/exec", Path: "/etc/passwd", Err: syscall.EACCES}, false},
		{"not found in PATH", exec.ErrNotFound, false},
		{"started", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lacksResource(tt.err); got != tt.want {
				t.Errorf("lacksResource(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// startHelperEnv names the case TestStartOutOfFilesHelper plays in a
// child process of TestHookStartRetriedOutOfFiles.
const startHelperEnv = "VIGIL_TEST_START_HELPER"

// TestHookStartRetriedOutOfFiles: a hook that fails to start because the
// agent has no file descriptor left ("start: pipe2: too many open files",
// for real: a child process of this test lowers its own RLIMIT_NOFILE and
// takes every descriptor) is started again with a backoff, and each
// failed attempt is recorded. When descriptors come free the run goes
// through; when they never do, it is recorded as failed after
// StartAttempts attempts; when the agent stops meanwhile, the run stays
// unfinished in the journal, so the next start resumes it. The limit is
// lowered in a child process because the rest of this package's tests
// share the test process.
func TestHookStartRetriedOutOfFiles(t *testing.T) {
	tests := []struct {
		name  string
		check func(t *testing.T, runs []events.Run, dir string)
	}{
		{name: "freed", check: func(t *testing.T, runs []events.Run, _ string) {
			if len(runs) != 2 {
				t.Fatalf("%d runs, want a failed start and a run: %+v", len(runs), runs)
			}
			checkFailedStart(t, runs[0], 2)
			if runs[1].Outcome != events.OutcomeOK || runs[1].Output != "started\n" {
				t.Errorf("second attempt: %+v", runs[1])
			}
			if d := runs[1].Start.Sub(runs[0].Start); d < StartBackoff {
				t.Errorf("started again after %s, want at least %s", d, StartBackoff)
			}
		}},
		{name: "never", check: func(t *testing.T, runs []events.Run, _ string) {
			if len(runs) != StartAttempts {
				t.Fatalf("%d runs, want %d failed starts: %+v", len(runs), StartAttempts, runs)
			}
			for i, run := range runs[:StartAttempts-1] {
				checkFailedStart(t, run, i+2)
			}
			last := runs[StartAttempts-1]
			if last.Outcome != events.OutcomeError || !strings.Contains(last.Error, "too many open files") ||
				!strings.Contains(last.Reason, fmt.Sprintf("%d times in a row; given up", StartAttempts)) {
				t.Errorf("last attempt: %+v", last)
			}
			// 0.25 + 0.5 + 1 + 2 s of backoff.
			if d, want := last.Start.Sub(runs[0].Start), StartBackoff*(1<<(StartAttempts-1)-1); d < want {
				t.Errorf("gave up %s after the first attempt, want at least %s", d, want)
			}
		}},
		{name: "stopped", check: func(t *testing.T, runs []events.Run, dir string) {
			if len(runs) != 2 {
				t.Fatalf("%d runs, want a failed start and a cancelled one: %+v", len(runs), runs)
			}
			checkFailedStart(t, runs[0], 2)
			if runs[1].Outcome != events.OutcomeCancelled || !strings.Contains(runs[1].Error, "too many open files") {
				t.Errorf("run after the stop: %+v", runs[1])
			}
			j, pending, past, err := journal.Open(journal.Path(dir))
			if err != nil {
				t.Fatal(err)
			}
			j.Close()
			if len(pending) != 1 || pending[0].Hook != "h" || pending[0].Event == nil || pending[0].Event.ID != 7 {
				t.Errorf("journal: pending %+v, want event 7 for hook h, to be resumed", pending)
			}
			if len(past) != 2 {
				t.Errorf("journal: %d run records, want 2: %+v", len(past), past)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestStartOutOfFilesHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), startHelperEnv+"="+tt.name+":"+dir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			_, js, ok := strings.Cut(string(out), "RUNS ")
			js, _, _ = strings.Cut(js, "\n")
			var runs []events.Run
			if !ok || json.Unmarshal([]byte(js), &runs) != nil {
				t.Fatalf("helper printed no runs:\n%s", out)
			}
			tt.check(t, runs, dir)
		})
	}
}

// checkFailedStart checks a recorded start that failed for want of
// descriptors and is to be tried again as attempt next.
func checkFailedStart(t *testing.T, run events.Run, next int) {
	t.Helper()
	if run.Outcome != events.OutcomeError || run.Error != "start: pipe2: too many open files" ||
		!strings.Contains(run.Reason, fmt.Sprintf("(start attempt %d of %d)", next, StartAttempts)) {
		t.Errorf("failed start before attempt %d: %+v", next, run)
	}
}

// TestStartOutOfFilesHelper is the child process of
// TestHookStartRetriedOutOfFiles; it does nothing in a normal run.
func TestStartOutOfFilesHelper(t *testing.T) {
	mode, dir, ok := strings.Cut(os.Getenv(startHelperEnv), ":")
	if !ok {
		t.Skip("the child process of TestHookStartRetriedOutOfFiles")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	j, _, _, err := journal.Open(journal.Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()

	// hoard takes every free descriptor; free gives them back.
	var mu sync.Mutex
	var hoard []*os.File
	free := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, f := range hoard {
			f.Close()
		}
		hoard = nil
	}
	failed := make(chan struct{}, StartAttempts)
	r, err := NewRunner(RunnerConfig{
		Logger:  zerolog.Nop(),
		Journal: j,
		OnRun: func(run events.Run) {
			if run.Outcome == events.OutcomeError {
				if mode == "freed" {
					free()
				}
				failed <- struct{}{}
			}
		},
	}, []Hook{{Name: "h", Shell: "echo started", Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	for len(hoard) < 1<<16 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatal(err)
			}
			break
		}
		hoard = append(hoard, f)
	}
	r.Dispatch(failedEvent(7, "m"))
	done := func() bool {
		runs := r.Runs()
		if len(runs) == 0 {
			return false
		}
		last := runs[len(runs)-1]
		return last.Outcome == events.OutcomeOK || strings.Contains(last.Reason, "given up")
	}
	switch mode {
	case "stopped":
		select {
		case <-failed:
		case <-time.After(10 * time.Second):
			free()
			t.Fatal("no failed start")
		}
		stopped, cancel := context.WithCancel(context.Background())
		cancel()
		r.Close(stopped)
	default:
		deadline := time.Now().Add(20 * time.Second)
		for !done() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Close(ctx)
	}
	free()
	b, err := json.Marshal(r.Runs())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("RUNS %s\n", b)
}

// TestDocStartRetryLogLine: the line docs/hooks.md shows for a start that
// failed for lack of a resource is the runner's.
func TestDocStartRetryLogLine(t *testing.T) {
	var out strings.Builder
	r := &Runner{cfg: RunnerConfig{Logger: zerolog.New(&out)}}
	r.log(events.Run{Hook: "on-failed", EventID: 7, Event: events.MemberFailed, Member: "db-3", Outcome: events.OutcomeError, ExitCode: -1,
		Error: "start: pipe2: too many open files", Reason: startAgainReason(StartBackoff, 2)})
	doc, err := os.ReadFile("../../docs/hooks.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "\n"+out.String()) {
		t.Errorf("docs/hooks.md does not show the line:\n%s", out.String())
	}
}
