package clustertest

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPoll: Poll returns as soon as check is done, at once with check's
// error, and with ErrTimeout once its time has run out (checking at
// least once).
func TestPoll(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		name    string
		d       time.Duration
		doneAt  int // the call that reports done; 0: never
		failAt  int // the call that returns boom; 0: never
		want    error
		calls   int
		atLeast time.Duration
	}{
		{"done at once", time.Second, 1, 0, nil, 1, 0},
		{"done at the third", time.Second, 3, 0, nil, 3, 2 * time.Millisecond},
		{"an error ends it", time.Second, 0, 2, boom, 2, time.Millisecond},
		{"timed out", 20 * time.Millisecond, 0, 0, ErrTimeout, 0, 20 * time.Millisecond},
		{"no time: one check", 0, 0, 0, ErrTimeout, 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			took, err := Poll(c.d, time.Millisecond, func() (bool, error) {
				calls++
				if calls == c.failAt {
					return false, boom
				}
				return calls == c.doneAt, nil
			})
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Errorf("Poll = %v, want %v", err, c.want)
			}
			if c.calls > 0 && calls != c.calls {
				t.Errorf("%d calls, want %d", calls, c.calls)
			}
			if took < c.atLeast || took > c.atLeast+time.Second {
				t.Errorf("took %s, want at least %s", took, c.atLeast)
			}
		})
	}
}

// TestAgentEnv: the variables of the given prefixes are left out, the
// others kept.
func TestAgentEnv(t *testing.T) {
	t.Setenv("VIGIL_CLUSTERTEST_X", "1")
	t.Setenv("SERF_CLUSTERTEST_X", "1")
	t.Setenv("CLUSTERTEST_KEPT", "1")
	env := AgentEnv("VIGIL_", "SERF_")
	if !slices.Contains(env, "CLUSTERTEST_KEPT=1") {
		t.Error("CLUSTERTEST_KEPT left out")
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "VIGIL_") || strings.HasPrefix(kv, "SERF_") {
			t.Errorf("%s kept", kv)
		}
	}
}

// TestPickFreePorts: distinct ports below the ephemeral range, each free
// on TCP and UDP when returned.
func TestPickFreePorts(t *testing.T) {
	ports, err := PickFreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] || p < portLow || p >= portHigh() {
			t.Errorf("port %d: repeated or out of [%d, %d)", p, portLow, portHigh())
		}
		seen[p] = true
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("port %d not free on TCP: %v", p, err)
			continue
		}
		l.Close()
		if !udpFree(p) {
			t.Errorf("port %d not free on UDP", p)
		}
	}
}

// TestAcceptAndClose: a connection to the listener is accepted and closed
// at once (the client reads EOF), until the listener is closed.
func TestAcceptAndClose(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	AcceptAndClose(l)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ne net.Error
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("read %d bytes, %v; want the end of the closed connection", n, err)
	}
	l.Close()
}

// TestPickFreePortsNeverTwice: a port handed out once in this process is
// never handed out again, though its listener is long closed (a killed
// agent's address, still probed by its cluster).
func TestPickFreePortsNeverTwice(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		ports, err := PickFreePorts(10)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ports {
			if seen[p] {
				t.Fatalf("port %d handed out twice", p)
			}
			seen[p] = true
		}
	}
}
