package hook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-agent/vigil/events"

	"github.com/vigil-agent/vigil/internal/tail"
)

// pipeDrainDelay is how long the runner waits, after a hook's main process
// exits, for background children still holding its stdout or stderr. After
// it the pipes are closed and the run is recorded.
const pipeDrainDelay = 2 * time.Second

// A hook whose process fails to start for lack of a resource (see
// lacksResource: too many open files in the agent or the system, no
// memory, no process slot) is started again, up to StartAttempts times in
// all, StartBackoff after the first failure and twice as long after each
// next one: 0.25 s, 0.5 s, 1 s and 2 s, so the last attempt is 3.75 s
// after the first. Every failed attempt is recorded in the run history
// (outcome error, its reason saying when the next attempt is); only when
// the last one fails too is the run recorded as failed to start, and then
// the hook's own retries apply as to any other error. These attempts are
// not the hook's retries. docs/hooks.md says the same.
const (
	StartAttempts = 5
	StartBackoff  = 250 * time.Millisecond
)

// lacksResource reports whether a hook's start failed for want of a
// resource that may come back: file descriptors (EMFILE, ENFILE, as in
// "start: pipe2: too many open files"), memory (ENOMEM) or a process
// slot (EAGAIN from fork).
func lacksResource(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.EAGAIN, syscall.ENOMEM} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// execute runs one hook for one event and reports how it went. It never
// panics on a bad hook; failures are in the Run. startErr is the error of
// starting the hook's process, when that failed. A run whose guard holds
// a lease (LeasedGuard) runs under the hook guard process (guard.go).
func (r *Runner) execute(ctx context.Context, h *Hook, ev *events.Event, guard RunGuard) (run events.Run, startErr error) {
	self := r.cfg.Self()
	start := time.Now()
	if h.Builtin != nil {
		bctx, cancel := context.WithTimeout(ctx, h.Timeout)
		defer cancel()
		out, err := h.Builtin(bctx, ev)
		run := events.Run{Start: start.UTC(), Outcome: events.OutcomeOK, Output: out, OutputBytes: int64(len(out))}
		run.DurationMS = msSince(start)
		if err != nil {
			run.Outcome, run.ExitCode, run.Error = events.OutcomeFailed, 1, err.Error()
		}
		return run, nil
	}

	var stdin []byte
	if h.Stdin == StdinSerf {
		stdin = SerfStdin(ev)
	} else {
		var err error
		if stdin, err = JSONStdin(ev, self); err != nil {
			return events.Run{Start: start.UTC(), Outcome: events.OutcomeError, ExitCode: -1, Error: err.Error()}, nil
		}
	}

	var cmd *exec.Cmd
	if h.Shell != "" {
		cmd = exec.Command("/bin/sh", "-c", h.Shell)
	} else {
		cmd = exec.Command(h.Command[0], h.Command[1:]...)
	}
	env := make([]string, 0, len(r.cfg.Env)+24)
	env = append(env, r.cfg.Env...)
	cmd.Env = append(env, HookEnv(ev, self, r.httpAddr())...)
	cmd.Stdin = bytes.NewReader(stdin)
	out := tail.New(outputTail)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = hookProcAttr()
	cmd.WaitDelay = pipeDrainDelay

	var gs *guardSession
	if lg, ok := guard.(LeasedGuard); ok {
		var err error
		if gs, err = guardCommand(cmd, lg, r.cfg.KillGrace); err != nil {
			return events.Run{Start: start.UTC(), Outcome: events.OutcomeError, ExitCode: -1, Error: fmt.Sprintf("start: %v", err)}, err
		}
	}
	if err := cmd.Start(); err != nil {
		if gs != nil {
			gs.abort()
		}
		return events.Run{Start: start.UTC(), Outcome: events.OutcomeError, ExitCode: -1, Error: fmt.Sprintf("start: %v", err)}, err
	}
	if gs != nil {
		gs.started()
	}
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	waitErr := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		close(exited)
		waitErr <- err
	}()

	timer := time.NewTimer(h.Timeout)
	defer timer.Stop()
	var err error
	outcome := events.OutcomeOK
	exitedFirst := false
	kill := func() error {
		select {
		case <-exited:
			exitedFirst = true
		default:
			exitedFirst = isZombie(pgid)
		}
		return r.killGroup(pgid, exited, waitErr)
	}
	select {
	case err = <-waitErr:
	case <-timer.C:
		outcome = events.OutcomeTimeout
		err = kill()
	case <-ctx.Done():
		outcome = events.OutcomeCancelled
		err = kill()
	}
	if outcome != events.OutcomeOK && exitedFirst {
		// The hook had exited by itself before the timeout or the
		// cancellation was noticed (the agent was paused meanwhile, say):
		// it completed, and is reported as it ended.
		outcome = events.OutcomeOK
	}

	run = events.Run{Start: start.UTC(), Outcome: outcome, Output: out.String(), OutputBytes: out.Total()}
	run.DurationMS = msSince(start)
	run.ExitCode = cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		run.Signal = ws.Signal().String()
	}
	if outcome == events.OutcomeOK && run.ExitCode != 0 {
		run.Outcome = events.OutcomeFailed
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
		run.Error = err.Error()
	}
	if outcome == events.OutcomeTimeout {
		run.Error = fmt.Sprintf("killed after timeout %s", h.Timeout)
	}
	if gs != nil {
		return run, guardReport(&run, gs.finish(), guard.(LeasedGuard))
	}
	return run, nil
}

// guardReport adds what the hook guard process did to a guarded run. It
// returns the error of starting the hook in the guard, with its errno
// (so a start that lacked a resource is tried again, as unguarded).
func guardReport(run *events.Run, st guardStatus, g LeasedGuard) error {
	switch {
	case st.StartError != "":
		run.Outcome, run.ExitCode, run.Signal, run.Error = events.OutcomeError, -1, "", "start: "+st.StartError
		err := errors.New(st.StartError)
		if st.StartErrno != 0 {
			err = fmt.Errorf("%s: %w", st.StartError, syscall.Errno(st.StartErrno))
		}
		return err
	case st.Killed != "":
		// The lease is lost: the run is reported as a lost claim's, and
		// the coordinator learns it before the runner reports the run.
		run.Outcome, run.Error = events.OutcomeCancelled, "killed by the hook guard: "+st.Killed
		g.LeaseExpired("the hook guard killed the run: " + st.Killed)
	case st.CompletionError != "":
		run.Reason = strings.TrimSpace(run.Reason + " the hook guard could not record the completion (the agent records it): " + st.CompletionError)
	}
	return nil
}

// killGroup ends a hook's process group: SIGTERM to the whole group, then,
// once the main process has exited and the group is empty or the kill grace
// has passed, SIGKILL to whatever is left. It returns the main process's
// wait error.
func (r *Runner) killGroup(pgid int, exited <-chan struct{}, waitErr <-chan error) error {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(r.cfg.KillGrace)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			if syscall.Kill(-pgid, 0) != nil {
				return <-waitErr
			}
		default:
		}
		<-tick.C
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return <-waitErr
}

// isZombie reports whether process pid has exited and waits to be reaped
// (state Z in /proc/PID/stat): it ended by itself.
func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

func msSince(t time.Time) float64 {
	return float64(time.Since(t).Microseconds()) / 1000
}
