package membership

import (
	"sync"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
)

// Storm damping.
//
// Besides memberlist's own gossip, vigil sends more after some membership
// changes, each to make one change reach every member: two re-announcements
// after each refutation (reannounce.go), a serf query to helpers and one
// to the member found alive in a confirmation (confirm.go), and join
// intents in the rounds of syncs after a join or a rejoin (joinsync.go).
// Each of these is gossiped on by every member: one costs about
// N × RetransmitMult × log10(N+1) messages. One change at a time, that is
// cheap. In a storm of changes (200 agents started at once on 2 cores,
// where starved agents miss their probes, are suspected, declared failed
// and refute, over and over) the extras add to the load that caused the
// storm: each refutation's two re-announcements make three alive messages
// of one.
//
// So while this agent sees a storm, it sends none of the extras: no
// re-announcement, no helper query and no prompt (its own direct ping
// still confirms failures), and rounds of syncs without join intents (the
// push/pulls themselves gossip nothing). Measured at N = 200 on `local`
// (2 cores): it did not make the cluster converge, since the overload
// there begins before the first failure (docs/benchmarks.md, Scale
// alone).
//
// A storm is at least stormMinChanges member failures and joins of members seen
// before (back from a failure, or restarted) reported by serf within
// stormWindow, and at least one in stormShare of the members: one member
// flapping, a restart or a few real failures are no storm, and neither
// are first joins (this agent's own join reports the whole cluster). The
// storm is over when the count falls below that.

const (
	// stormWindow is how far back member changes count.
	stormWindow = 10 * time.Second
	// stormMinChanges is the fewest changes within stormWindow that make a
	// storm, whatever the cluster's size: a member restarted (a leave and
	// a join) or flapping a few times is no storm.
	stormMinChanges = 10
	// stormShare: in a cluster of N members, a storm is at least N /
	// stormShare changes within stormWindow (20 at N = 200).
	stormShare = 10
)

// stormGauge counts the member changes serf reported within stormWindow.
type stormGauge struct {
	mu      sync.Mutex
	changes []time.Time // oldest first
	active  bool        // as of the last check, for the log
	// joined holds every member reported joined before: only a join of
	// one of them (a member back from a failure, or restarted) counts as
	// a change. The first joins are no storm: this agent's own join
	// reports every member of the cluster joined at once, and a restart
	// into 199 members must still send what a restart sends.
	joined map[string]struct{}
}

// noteFailed records a member failure at now.
func (g *stormGauge) noteFailed(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.add(now)
}

// noteJoined records a member join at now; only a member reported joined
// before counts as a change.
func (g *stormGauge) noteJoined(name string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.joined[name]; !ok {
		if g.joined == nil {
			g.joined = map[string]struct{}{}
		}
		g.joined[name] = struct{}{}
		return
	}
	g.add(now)
}

// add records one change at now. Called with mu held.
func (g *stormGauge) add(now time.Time) {
	g.trim(now)
	g.changes = append(g.changes, now)
}

// trim drops changes older than stormWindow. Called with mu held.
func (g *stormGauge) trim(now time.Time) {
	i := 0
	for i < len(g.changes) && now.Sub(g.changes[i]) > stormWindow {
		i++
	}
	if i > 0 {
		g.changes = append(g.changes[:0], g.changes[i:]...)
	}
}

// inStorm reports whether the changes within stormWindow of now make a
// storm in a cluster of members members, and whether that is news since
// the last check (for the log).
func (g *stormGauge) inStorm(now time.Time, members int) (storm, changed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.trim(now)
	storm = len(g.changes) >= max(stormMinChanges, members/stormShare)
	changed = storm != g.active
	g.active = storm
	return storm, changed
}

// inStorm reports whether this agent sees a membership storm now, and
// logs when that changes.
func (c *Cluster) inStorm() bool {
	storm, changed := c.storm.inStorm(time.Now(), c.serf.NumNodes())
	if changed {
		if storm {
			gometrics.IncrCounter([]string{"membership", "storm"}, 1)
			c.logger.Info().Dur("window", stormWindow).
				Msg("membership storm: many members failing and joining; sending no re-announcements, helper queries or join intents until it ends")
		} else {
			c.logger.Info().Msg("membership storm over")
		}
	}
	return storm
}
