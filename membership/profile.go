// Package membership runs vigil's gossip layer on serf and memberlist: it
// joins and leaves the cluster, keeps the member view, carries tags, and
// turns serf's events into vigil's events without ever blocking serf.
package membership

import (
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/memberlist"
)

// Profile names a memberlist timing profile.
type Profile string

// The timing profiles. Each is memberlist's own default of that name; the
// anchors in docs/architecture.md list their numbers.
const (
	// ProfileLAN suits a data centre network: 1 s probes, 500 ms probe
	// timeout, suspicion multiplier 4. It detects a dead node in about 5 s
	// on small clusters. This is the default.
	ProfileLAN Profile = "lan"
	// ProfileWAN tolerates high latency and loss: 5 s probes, 3 s timeout.
	// Detection takes half a minute or more.
	ProfileWAN Profile = "wan"
	// ProfileLocal suits one host or a very fast network (loopback, tests,
	// -dev): 1 s probes, 200 ms timeout, suspicion multiplier 3, one
	// indirect probe. It is the quickest profile and the least tolerant of
	// a slow or overloaded host.
	ProfileLocal Profile = "local"
	// ProfileFast is vigil's own profile for a quiet, fast network where a
	// dead peer must be noticed in under two seconds: 300 ms probes with a
	// 150 ms timeout and suspicion multiplier 3, so a suspicion lasts 0.9 s
	// up to 10 members and 1.2 s at 20 once a second member confirms it
	// (measured at N=20: a killed agent's member-failed hook starts on
	// every survivor 1.8 s after the kill at the median, 2.1 s at p90,
	// docs/benchmarks.md), and up
	// to 3 × that when nobody confirms it (a longer maximum would protect a
	// member suspected by one slow prober longer, but leaves the suspicions
	// of a member that is cut off pending longer too, and one still
	// pending when the cut heals ends in a false failure: see "Limits" in
	// docs/reliability.md). Gossip is retransmitted 4 ×
	// log(N+1) times to 4 peers every 100 ms so news reaches everyone in
	// small clusters too (memberlist's local profile retransmits only
	// twice, which in a five-node cluster with a dead member can leave one
	// peer uninformed until it probes the dead node itself). Requiring a
	// confirmation means one slow or cut-off prober cannot get a live member
	// declared failed in a second on its own word (with multiplier 2, an
	// earlier version of this profile could: 90 false failures in a
	// 50-agent join storm on a loaded host, docs/reliability.md). The
	// price: three probes a second per member, and a host stalled for more
	// than about a second (a GC pause, a VM migration, SIGSTOP) is declared
	// failed, because every member that probes it confirms the suspicion;
	// Lifeguard stretches the timeouts of a host that notices it is slow,
	// but not of a host that is simply paused. Use lan where hosts can stall.
	ProfileFast Profile = "fast"
)

var profiles = map[Profile]func() *memberlist.Config{
	ProfileLAN:   memberlist.DefaultLANConfig,
	ProfileWAN:   memberlist.DefaultWANConfig,
	ProfileLocal: memberlist.DefaultLocalConfig,
	ProfileFast:  fastConfig,
}

// fastConfig is ProfileFast's memberlist configuration.
func fastConfig() *memberlist.Config {
	c := memberlist.DefaultLANConfig()
	c.ProbeInterval = 300 * time.Millisecond
	c.ProbeTimeout = 150 * time.Millisecond
	c.SuspicionMult = 3
	c.SuspicionMaxTimeoutMult = 3
	c.IndirectChecks = 3
	c.RetransmitMult = 4
	c.GossipNodes = 4
	c.GossipInterval = 100 * time.Millisecond
	c.GossipToTheDeadTime = 10 * time.Second
	c.PushPullInterval = 10 * time.Second
	c.TCPTimeout = 2 * time.Second
	return c
}

// ProfileNames returns the known profile names, sorted.
func ProfileNames() []string {
	out := make([]string, 0, len(profiles))
	for p := range profiles {
		out = append(out, string(p))
	}
	sort.Strings(out)
	return out
}

// MemberlistConfig returns a fresh memberlist configuration for the profile.
func MemberlistConfig(p Profile) (*memberlist.Config, error) {
	mk, ok := profiles[p]
	if !ok {
		return nil, fmt.Errorf("unknown profile %q (want one of %v)", p, ProfileNames())
	}
	return mk(), nil
}
