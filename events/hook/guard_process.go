package hook

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// guardCompleteTimeout bounds the guard's recording of a completion.
const guardCompleteTimeout = 5 * time.Second

// guardMain is the hook guard process (see guard.go): os.Args are
// [vigil-hook-guard PATH ARGV...]. It returns the exit status to leave
// with: the hook's, so the runner sees the hook's end as its own.
func guardMain(completers map[string]Completer) int {
	// The hook's Pdeathsig is tied to the thread that starts it: it must
	// outlive the hook.
	runtime.LockOSThread()
	syscall.CloseOnExec(guardControlFD)
	syscall.CloseOnExec(guardStatusFD)
	control := os.NewFile(guardControlFD, "hook-guard-control")
	status := os.NewFile(guardStatusFD, "hook-guard-status")
	report := func(st guardStatus) {
		b, _ := json.Marshal(st)
		_, _ = status.Write(append(b, '\n'))
	}
	if len(os.Args) < 3 {
		report(guardStatus{StartError: "hook guard: no command to run"})
		return 125
	}
	// SIGTERM, SIGINT and SIGHUP sent to the process group are for the
	// hook: the guard stays to report its end and to pass it on.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		for range sigs {
		}
	}()

	rd := bufio.NewReader(control)
	var first guardMessage
	line, err := rd.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &first)
	}
	if err != nil {
		report(guardStatus{StartError: "hook guard: no lease deadline from the agent: " + err.Error()})
		return 125
	}
	deadline := time.Now().Add(time.Duration(first.DeadlineMS) * time.Millisecond)
	updates := make(chan time.Time, 1)
	go func() {
		// Until the agent closes the pipe (the run ended) or dies (the
		// guard dies with it). A stopped agent sends nothing: the last
		// deadline stands.
		for {
			line, err := rd.ReadBytes('\n')
			if err != nil {
				return
			}
			var m guardMessage
			if json.Unmarshal(line, &m) != nil {
				continue
			}
			d := time.Now().Add(time.Duration(m.DeadlineMS) * time.Millisecond)
			select {
			case <-updates:
			default:
			}
			updates <- d
		}
	}()

	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, guardEnv+"=") {
			env = append(env, kv)
		}
	}
	cmd := &exec.Cmd{Path: os.Args[1], Args: os.Args[2:], Env: env, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		SysProcAttr: guardedProcAttr()}
	if err := cmd.Start(); err != nil {
		st := guardStatus{StartError: err.Error()}
		if errno := syscall.Errno(0); errors.As(err, &errno) {
			st.StartErrno = int(errno)
		}
		report(st)
		return 127
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	timer := time.NewTimer(time.Until(deadline))
	for {
		select {
		case d := <-updates:
			deadline = d
			timer.Reset(time.Until(d))
			continue
		case <-timer.C:
			if time.Now().Before(deadline) {
				timer.Reset(time.Until(deadline))
				continue
			}
			report(guardStatus{Killed: "the failover lease's deadline passed without a renewal from the agent"})
			pg := syscall.Getpgrp()
			_ = syscall.Kill(-pg, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(time.Duration(first.GraceMS) * time.Millisecond):
			}
			// The hook's leftovers, and the guard with them.
			_ = syscall.Kill(-pg, syscall.SIGKILL)
			select {}
		case <-exited:
		}
		break
	}
	timer.Stop()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Exited() && ws.ExitStatus() == 0 && first.Completion != nil {
		report(complete(completers, first.Completion))
	}
	return passOn(ws)
}

// complete records the run's completion through the registered
// completer.
func complete(completers map[string]Completer, c *guardCompletion) guardStatus {
	fn := completers[c.Kind]
	if fn == nil {
		return guardStatus{CompletionError: "hook guard: no completer for " + c.Kind}
	}
	ctx, cancel := context.WithTimeout(context.Background(), guardCompleteTimeout)
	defer cancel()
	if err := fn(ctx, c.Spec); err != nil {
		return guardStatus{CompletionError: err.Error()}
	}
	return guardStatus{Completed: true}
}

// passOn ends the guard as the hook ended: the same exit status, or the
// same signal for the signals a Go program dies of by default (another
// signal is 128+N, as a shell reports it).
func passOn(ws syscall.WaitStatus) int {
	if !ws.Signaled() {
		return ws.ExitStatus()
	}
	sig := ws.Signal()
	switch sig {
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGKILL:
		signal.Reset(sig)
		_ = syscall.Kill(os.Getpid(), sig)
		time.Sleep(time.Second)
	}
	return 128 + int(sig)
}
