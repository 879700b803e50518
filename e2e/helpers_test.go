package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// recordHooks makes every agent leave a file per member-failed and
// member-join event in its $OUT: failed-MEMBER-EVENTID and
// join-MEMBER-EVENTID, holding "SELF MEMBER STATUS".
const recordHooks = `
hooks:
  - name: on-failed
    on: [member-failed]
    shell: 'echo "$VIGIL_SELF_NAME $VIGIL_MEMBER_NAME $VIGIL_MEMBER_STATUS" > "$OUT/failed-$VIGIL_MEMBER_NAME-$VIGIL_EVENT_ID"'
    timeout: 10s
  - name: on-join
    on: [member-join]
    shell: 'echo "$VIGIL_SELF_NAME $VIGIL_MEMBER_NAME $VIGIL_MEMBER_STATUS" > "$OUT/join-$VIGIL_MEMBER_NAME-$VIGIL_EVENT_ID"'
    timeout: 10s
`

// writeConfig writes a YAML config file for agents and returns its path
// (clustertest.WriteConfig).
func writeConfig(t *testing.T, body string) string { return clustertest.WriteConfig(t, body) }

// skipShort skips long end-to-end tests under -short.
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-host end-to-end test")
	}
}

// counts is how many times an agent's hook ran for each member.
type counts map[string]int

// plusOne returns a copy of c with one more for each of members.
func (c counts) plusOne(members []string) counts {
	out := counts{}
	for m, k := range c {
		out[m] = k
	}
	for _, m := range members {
		out[m]++
	}
	return out
}

// seen counts the agent's hook files of one kind (failed, join) per member,
// checking that each file names the agent itself, the member, and the
// status that goes with the event.
func seen(t *testing.T, a *clustertest.Agent, kind string) counts {
	t.Helper()
	status := map[string]string{"failed": "failed", "join": "alive"}[kind]
	c := counts{}
	for _, f := range a.OutFiles(kind + "-*") {
		rest := strings.TrimPrefix(f, kind+"-")
		member := rest[:strings.LastIndexByte(rest, '-')]
		got := strings.TrimSpace(a.ReadOut(f))
		if got == "" {
			continue // the hook is still writing it
		}
		if want := a.Name + " " + member + " " + status; got != want {
			t.Errorf("%s: %s holds %q, want %q", a.Name, f, got, want)
		}
		c[member]++
	}
	return c
}

// only returns the counts of the named members.
func (c counts) only(names []string) counts {
	out := counts{}
	for _, n := range names {
		if c[n] > 0 {
			out[n] = c[n]
		}
	}
	return out
}

// String formats counts sorted by member: "h2×1 h3×2".
func (c counts) String() string {
	var s []string
	for n, k := range c {
		s = append(s, fmt.Sprintf("%s×%d", n, k))
	}
	sort.Strings(s)
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

// each returns counts with every named member at k.
func each(k int, names []string) counts {
	c := counts{}
	for _, n := range names {
		c[n] = k
	}
	return c
}

// waitSeen waits until every agent's files of kind, per member, add up to
// want (members not in want must have none), and returns how long it took.
func waitSeen(t *testing.T, d time.Duration, agents []*clustertest.Agent, kind string, want func(a *clustertest.Agent) counts) time.Duration {
	t.Helper()
	start := time.Now()
	for _, a := range agents {
		w := want(a)
		clustertest.Eventually(t, d-time.Since(start), fmt.Sprintf("%s's %s hooks to have run for %s", a.Name, kind, w), func() error {
			if got := seen(t, a, kind); got.String() != w.String() {
				return fmt.Errorf("they ran for %s", got)
			}
			return nil
		})
	}
	return time.Since(start)
}

// events counts, per member, the agent's membership events of one type
// (member-failed, member-join, …) from GET /v1/events.
func events(t *testing.T, a *clustertest.Agent, typ string) counts {
	t.Helper()
	evs, err := a.Events(0)
	if err != nil {
		t.Fatal(err)
	}
	c := counts{}
	for _, e := range evs {
		if e.Type == typ && len(e.Members) == 1 {
			c[e.Members[0].Name]++
		}
	}
	return c
}

// runs returns the agent's runs of a hook, per member.
func runs(t *testing.T, a *clustertest.Agent, hook string) map[string][]clustertest.Run {
	t.Helper()
	rs, err := a.Runs(hook)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]clustertest.Run{}
	for _, r := range rs {
		out[r.Member] = append(out[r.Member], r)
	}
	return out
}

// checkRunsOK fails the test for every run of a hook that did not end ok.
func checkRunsOK(t *testing.T, agents []*clustertest.Agent, hook string) {
	t.Helper()
	for _, a := range agents {
		for _, rs := range runs(t, a, hook) {
			for _, r := range rs {
				if r.Outcome != "ok" {
					t.Errorf("%s: hook %s for event %d (%s %s): %s %s%s %s", a.Name, r.Hook, r.EventID, r.Event, r.Member, r.Outcome, r.Error, r.Reason, r.Output)
				}
			}
		}
	}
}

// durations formats per-agent durations sorted by agent: "h0 4.1s, h1 5s".
func durations(d map[string]time.Duration) string {
	var s []string
	for n, t := range d {
		s = append(s, n+" "+t.Round(100*time.Millisecond).String())
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func TestMain(m *testing.M) { clustertest.Main(m) }
