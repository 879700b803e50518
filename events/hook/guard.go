package hook

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// A run that holds a failover lease runs under a hook guard: a small
// process of vigil's own binary (re-executed), placed between the agent
// and the hook, in the hook's process group. The agent tells the guard
// every new lease deadline; if a deadline passes without a new one (the
// agent could not renew, or is itself stopped: SIGSTOP, a paused
// container, a swapped-out process), the guard kills the hook's process
// group before the lease can expire, without waiting for the agent. With
// the etcd lock the guard also records the run's completion itself when
// the hook exits 0, so that a stopped agent's completed run is never run
// again by another agent. A stopped machine stops the guard too: for that
// the fence remains (docs/failover.md).
//
// The guard is the binary's own, found at /proc/self/exe, and runs only
// in binaries that call GuardEntry from an init function (the agent
// does); elsewhere leased runs run unguarded, as before.

// LeasedGuard is a RunGuard whose run holds a lease with a deadline: the
// runner runs its hook under the guard process.
type LeasedGuard interface {
	RunGuard
	// LeaseDeadline returns when the hook must have stopped unless a
	// renewal moves it, and a channel closed when it moves.
	LeaseDeadline() (time.Time, <-chan struct{})
	// LeaseExpired is told that the guard process killed the hook
	// because the deadline passed: the lease is lost.
	LeaseExpired(why string)
	// Completion returns what the guard records by itself when the hook
	// exits 0 before the deadline: a kind given to GuardEntry and its
	// spec, or "" for nothing.
	Completion() (kind string, spec []byte)
}

// Completer records a run's completion from inside the guard process;
// spec is what LeasedGuard.Completion returned.
type Completer func(ctx context.Context, spec []byte) error

// guardEnv marks the guard process in its environment (removed before
// the hook starts).
const guardEnv = "VIGIL_HOOK_GUARD"

// guardExecutable is the binary re-executed as the guard.
const guardExecutable = "/proc/self/exe"

// guardControlFD and guardStatusFD are the guard's control pipe (read: the
// agent's messages) and its status pipe (write: what it did).
const (
	guardControlFD = 3
	guardStatusFD  = 4
)

// guardsAvailable is set by GuardEntry in a binary that can act as the
// guard.
var guardsAvailable atomic.Bool

// GuardEntry makes this binary the hook guard's: call it from an init
// function of a package every vigil binary links. In the guard process
// (marked in its environment) it runs the guard and exits; elsewhere it
// notes that leased runs may use guards, and completers are the kinds of
// completion the guard can record.
func GuardEntry(completers map[string]Completer) {
	if os.Getenv(guardEnv) == "1" {
		os.Exit(guardMain(completers))
	}
	guardsAvailable.Store(guardsSupported)
}

// guardMessage is one line from the agent to the guard.
type guardMessage struct {
	// DeadlineMS is how long from now the hook may run unless a later
	// message moves it.
	DeadlineMS int64 `json:"deadline_ms"`
	// GraceMS is the time between SIGTERM and SIGKILL at the deadline
	// (first message only).
	GraceMS int64 `json:"grace_ms,omitempty"`
	// Completion is what the guard records when the hook exits 0 before
	// the deadline (first message only).
	Completion *guardCompletion `json:"completion,omitempty"`
}

type guardCompletion struct {
	Kind string          `json:"kind"`
	Spec json.RawMessage `json:"spec"`
}

// guardStatus is the guard's report, one line on the status pipe.
type guardStatus struct {
	// StartError is why the hook could not be started.
	StartError string `json:"start_error,omitempty"`
	// StartErrno is the start's errno, when it had one.
	StartErrno int `json:"start_errno,omitempty"`
	// Killed says the guard killed the hook, and why.
	Killed string `json:"killed,omitempty"`
	// Completed says the guard recorded the completion;
	// CompletionError why it could not.
	Completed       bool   `json:"completed,omitempty"`
	CompletionError string `json:"completion_error,omitempty"`
}

// guardSession is the agent's side of one guarded run.
type guardSession struct {
	g       LeasedGuard
	grace   time.Duration
	control *os.File // write end of the control pipe
	status  *os.File // read end of the status pipe
	child   []*os.File
	done    chan struct{}
	wg      sync.WaitGroup
}

// guardGrace bounds the guard's SIGTERM-to-SIGKILL time: the kill must be
// over before the lease can expire in the lock, a tenth of the lease after
// the deadline, so it is the runner's grace or three quarters of that
// tenth, whichever is shorter (0.75 s of a 10 s lease), and at least
// 100 ms.
func guardGrace(killGrace time.Duration, deadline time.Time) time.Duration {
	return max(min(killGrace, time.Until(deadline)*10/9/10*3/4), 100*time.Millisecond)
}

// guardCommand turns cmd, not yet started, into the guard running it.
// It returns nil (cmd unchanged) when this binary has no guard.
func guardCommand(cmd *exec.Cmd, g LeasedGuard, killGrace time.Duration) (*guardSession, error) {
	if !guardsAvailable.Load() || cmd.Err != nil {
		return nil, nil
	}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("hook guard control pipe: %w", err)
	}
	stR, stW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		return nil, fmt.Errorf("hook guard status pipe: %w", err)
	}
	deadline, _ := g.LeaseDeadline()
	s := &guardSession{g: g, grace: guardGrace(killGrace, deadline), control: ctlW, status: stR, child: []*os.File{ctlR, stW}, done: make(chan struct{})}
	args := append([]string{"vigil-hook-guard", cmd.Path}, cmd.Args...)
	cmd.Path, cmd.Args = guardExecutable, args
	cmd.Env = append(cmd.Env, guardEnv+"=1")
	cmd.ExtraFiles = append(cmd.ExtraFiles, ctlR, stW)
	return s, nil
}

// started is called once the guard started: it sends the first deadline
// and keeps sending new ones until finish.
func (s *guardSession) started() {
	s.closeChild()
	first := guardMessage{GraceMS: s.grace.Milliseconds()}
	if kind, spec := s.g.Completion(); kind != "" {
		first.Completion = &guardCompletion{Kind: kind, Spec: spec}
	}
	deadline, changed := s.g.LeaseDeadline()
	first.DeadlineMS = max(time.Until(deadline).Milliseconds(), 0)
	s.send(first)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-s.done:
				return
			case <-changed:
			}
			deadline, changed = s.g.LeaseDeadline()
			s.send(guardMessage{DeadlineMS: max(time.Until(deadline).Milliseconds(), 0)})
		}
	}()
}

func (s *guardSession) send(m guardMessage) {
	b, _ := json.Marshal(m)
	// A guard that is gone no longer reads: the write fails, and the
	// run's end is reported by Wait.
	_, _ = s.control.Write(append(b, '\n'))
}

func (s *guardSession) closeChild() {
	for _, f := range s.child {
		f.Close()
	}
	s.child = nil
}

// abort cleans up after a guard that did not start.
func (s *guardSession) abort() {
	s.closeChild()
	s.control.Close()
	s.status.Close()
}

// finish is called after the guard exited: it stops the deadlines and
// returns the guard's report. A guard killed before it reported returns
// an empty status.
func (s *guardSession) finish() guardStatus {
	close(s.done)
	s.wg.Wait()
	s.control.Close()
	defer s.status.Close()
	// The guard has exited and only it held the write end, so this
	// ends at once; the deadline covers a guard's child that kept it
	// against all odds.
	_ = s.status.SetReadDeadline(time.Now().Add(time.Second))
	var st guardStatus
	sc := bufio.NewScanner(s.status)
	for sc.Scan() {
		var line guardStatus
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			st.StartError = cmpOr(line.StartError, st.StartError)
			st.StartErrno = max(line.StartErrno, st.StartErrno)
			st.Killed = cmpOr(line.Killed, st.Killed)
			st.Completed = st.Completed || line.Completed
			st.CompletionError = cmpOr(line.CompletionError, st.CompletionError)
		}
	}
	return st
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
