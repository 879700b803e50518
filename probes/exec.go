package probes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-agent/vigil/internal/tail"
)

// execWaitDelay is how long a run waits, once the check's process has
// exited or been killed, for stdout and stderr to close. A background child
// that still holds them cannot hang the check: after the delay the pipes
// are closed and the run is recorded.
const execWaitDelay = time.Second

// checkEnv is the environment of exec checks: the agent's, without
// VIGIL_HTTP_TOKEN (how the agent's API token is often set), so a check
// that prints its environment does not print the token, and the processes
// it starts cannot read it. Hooks get it only when asked (hook_http_token).
func checkEnv() []string {
	env := os.Environ()
	out := env[:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "VIGIL_HTTP_TOKEN=") {
			out = append(out, kv)
		}
	}
	return out
}

// execProber runs an exec check: exit 0 passing, 1 warning, else critical.
type execProber struct {
	argv    []string
	timeout time.Duration
}

func (p *execProber) close() {}

func (p *execProber) probe(ctx context.Context) result {
	name := p.argv[0]
	cmd := exec.CommandContext(ctx, name, p.argv[1:]...)
	cmd.Env = checkEnv()
	out := tail.New(MaxOutput)
	cmd.Stdout = out
	cmd.Stderr = out
	// Its own process group, so that killing the group at the timeout also
	// kills the children the check spawned.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = execWaitDelay

	if err := cmd.Start(); err != nil {
		return result{Critical, fmt.Sprintf("exec %s: %v", name, err)}
	}
	err := cmd.Wait()
	// Whatever the check left running in its group dies with it, so checks
	// cannot leak processes run after run. The group id stays reserved
	// while any member lives, so this cannot hit an unrelated process
	// group unless the pid was recycled after the whole group had gone.
	_ = killGroup(cmd.Process.Pid)

	output := out.String()
	ps := cmd.ProcessState
	if ctx.Err() != nil && (ps == nil || !ps.Exited()) {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return result{Critical, withOutput(fmt.Sprintf("Timed out (%s) running check; its process group was killed", p.timeout), output)}
		}
		return result{Critical, withOutput("Check cancelled; its process group was killed", output)}
	}
	if ps == nil {
		return result{Critical, withOutput(fmt.Sprintf("exec %s: %v", name, err), output)}
	}
	status := Critical
	switch ps.ExitCode() {
	case 0:
		status = Passing
	case 1:
		status = Warning
	}
	if output == "" && status != Passing {
		output = fmt.Sprintf("exec %s: %s", name, ps)
	}
	return result{status, output}
}

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// withOutput appends a process's output to a message about it.
func withOutput(msg, output string) string {
	if strings.TrimSpace(output) == "" {
		return msg
	}
	return msg + "\nOutput: " + output
}
