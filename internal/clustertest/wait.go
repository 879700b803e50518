package clustertest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// PollInterval is how often WaitFor and AllSee check their condition.
const PollInterval = 100 * time.Millisecond

// WaitFor polls cond every PollInterval until it returns true, and returns
// how long that took. If d passes first, the test fails with "timed out
// after D waiting for WHAT".
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return WaitEvery(t, d, PollInterval, what, cond)
}

// WaitEvery is WaitFor polling every every: a cheap in-process condition
// can be polled more often than an agent's HTTP API.
func WaitEvery(t testing.TB, d, every time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	took, err := Poll(d, every, func() (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
	return took
}

// Eventually polls check every PollInterval until it returns nil, and
// returns how long that took. If d passes first, the test fails with
// "timed out after D waiting for WHAT: " and check's last error, so an
// error that describes the state seen makes a good failure message.
func Eventually(t testing.TB, d time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	var last error
	took, err := Poll(d, PollInterval, func() (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s: %v", d, what, last)
	}
	return took
}

// ErrTimeout is Poll's error when its time ran out.
var ErrTimeout = errors.New("timed out")

// Poll calls check every every until it reports done, and returns how
// long that took: the loop under WaitFor and Eventually, for code that is
// not a test (the benchmark) and handles the error itself. An error from
// check ends the polling at once with that error; after d it returns
// ErrTimeout. check runs at least once, the first time at once.
func Poll(d, every time.Duration, check func() (done bool, err error)) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(d)
	for {
		done, err := check()
		if err != nil {
			return time.Since(start), err
		}
		if done {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return time.Since(start), ErrTimeout
		}
		time.Sleep(every)
	}
}

// View is what an agent should see: member name → status (alive, leaving,
// left, failed).
type View map[string]string

// Expect returns a View in which every given agent has status.
func Expect(status string, agents ...*Agent) View {
	return View{}.And(status, agents...)
}

// And returns a copy of v in which every given agent has status.
func (v View) And(status string, agents ...*Agent) View {
	out := make(View, len(v)+len(agents))
	for n, s := range v {
		out[n] = s
	}
	for _, a := range agents {
		out[a.Name] = status
	}
	return out
}

// String formats the view sorted by name: "h0=alive h1=failed".
func (v View) String() string {
	var s []string
	for n, st := range v {
		s = append(s, n+"="+st)
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// AllSee waits until, in the same poll, every one of agents sees every
// member named in want with the wanted status (members not named are not
// checked), and returns how long that took. On timeout the test fails with
// what each agent saw instead.
func AllSee(t testing.TB, d time.Duration, agents []*Agent, want map[string]string) time.Duration {
	t.Helper()
	start := time.Now()
	AllSeeEach(t, d, agents, func(*Agent) map[string]string { return want })
	return time.Since(start)
}

// AllSeeEach is AllSee with a view per agent, e.g. one per side of a
// partition. It returns, per agent name, how long it took until that agent
// first saw its view.
func AllSeeEach(t testing.TB, d time.Duration, agents []*Agent, want func(a *Agent) map[string]string) map[string]time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	first := map[string]time.Duration{}
	for {
		var wrong []string
		for _, a := range agents {
			if diff := a.differs(want(a)); diff != "" {
				wrong = append(wrong, diff)
			} else if _, ok := first[a.Name]; !ok {
				first[a.Name] = time.Since(start)
			}
		}
		if len(wrong) == 0 {
			return first
		}
		if time.Now().After(deadline) {
			var views []string
			for _, a := range agents {
				views = append(views, a.Name+": "+View(want(a)).String())
			}
			t.Fatalf("timed out after %s waiting for agents to see\n  %s\nbut\n  %s",
				d, strings.Join(views, "\n  "), strings.Join(wrong, "\n  "))
		}
		time.Sleep(PollInterval)
	}
}

// differs describes how the agent's view differs from want; "" if it does
// not.
func (a *Agent) differs(want map[string]string) string {
	got, err := a.Statuses()
	if err != nil {
		return err.Error()
	}
	var bad []string
	for n, s := range want {
		if got[n] != s {
			g := got[n]
			if g == "" {
				g = "unknown"
			}
			bad = append(bad, fmt.Sprintf("%s=%s (want %s)", n, g, s))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	sort.Strings(bad)
	return a.Name + " sees " + strings.Join(bad, ", ")
}

// Names returns the agents' names.
func Names(agents ...*Agent) []string {
	out := make([]string, len(agents))
	for i, a := range agents {
		out[i] = a.Name
	}
	return out
}
