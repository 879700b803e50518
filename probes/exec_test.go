package probes

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExecExitCodes(t *testing.T) {
	tests := []struct {
		name, body string
		want       Status
		output     string
	}{
		{"exit 0", "echo all good; exit 0", Passing, "all good\n"},
		{"exit 1", "echo degraded; exit 1", Warning, "degraded\n"},
		{"exit 2", "echo broken; exit 2", Critical, "broken\n"},
		{"exit 2 silent", "exit 2", Critical, "exit status 2"},
		{"stderr too", "echo out; echo err >&2; exit 1", Warning, "out\nerr\n"},
		{"killed by a signal", "kill -9 $$", Critical, "signal: killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runProbe(t, Definition{ID: "s", Exec: []string{script(t, tt.body)}})
			if res.status != tt.want || !strings.Contains(res.output, tt.output) {
				t.Errorf("status %s output %q, want %s %q", res.status, res.output, tt.want, tt.output)
			}
		})
	}
}

func TestExecArgvNoShell(t *testing.T) {
	// Arguments reach the program as they are: no shell splits or expands.
	res := runProbe(t, Definition{ID: "s", Exec: []string{"/bin/echo", "a  b", "$HOME", "*"}})
	if res.status != Passing || res.output != "a  b $HOME *\n" {
		t.Errorf("status %s output %q", res.status, res.output)
	}
}

func TestExecMissingProgram(t *testing.T) {
	res := runProbe(t, Definition{ID: "s", Exec: []string{"/nonexistent/check"}})
	if res.status != Critical || !strings.Contains(res.output, "/nonexistent/check") {
		t.Errorf("status %s output %q", res.status, res.output)
	}
}

func TestExecOutputTail(t *testing.T) {
	// 10000 bytes then END: the output is the last 4 KiB.
	res := runProbe(t, Definition{ID: "s", Exec: []string{script(t,
		`i=0; while [ $i -lt 100 ]; do printf '%099d\n' $i; i=$((i+1)); done; echo END`)}})
	if res.status != Passing || len(res.output) != MaxOutput || !strings.HasSuffix(res.output, "\nEND\n") {
		t.Errorf("status %s, output of %d bytes ending %q", res.status, len(res.output), res.output[max(0, len(res.output)-20):])
	}
}

func TestExecTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	path := script(t, `sleep 60 &
echo $! > "$1"
echo started
wait`)
	start := time.Now()
	res := runProbe(t, Definition{ID: "hang", Exec: []string{path, pidFile}, Timeout: Duration(500 * time.Millisecond)})
	elapsed := time.Since(start)
	if res.status != Critical || !strings.Contains(res.output, "Timed out (500ms)") || !strings.Contains(res.output, "started") {
		t.Errorf("status %s output %q, want critical, timed out, with the output", res.status, res.output)
	}
	if elapsed > 500*time.Millisecond+execWaitDelay+time.Second {
		t.Errorf("the run took %s", elapsed)
	}
	pid := readPID(t, pidFile)
	waitFor(t, 5*time.Second, "the child "+pid+" to die", func() bool { return processGone(pid) })
}

func TestExecLeftoverChildCannotHang(t *testing.T) {
	t.Parallel()
	// The check exits at once but a background child holds its stdout.
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	path := script(t, `sleep 60 &
echo $! > "$1"
echo ok`)
	start := time.Now()
	res := runProbe(t, Definition{ID: "bg", Exec: []string{path, pidFile}, Timeout: Duration(20 * time.Second)})
	if res.status != Passing || res.output != "ok\n" {
		t.Errorf("status %s output %q", res.status, res.output)
	}
	if el := time.Since(start); el > execWaitDelay+3*time.Second {
		t.Errorf("the run took %s: the leftover child held it", el)
	}
	pid := readPID(t, pidFile)
	waitFor(t, 5*time.Second, "the leftover child "+pid+" to be killed", func() bool { return processGone(pid) })
}
