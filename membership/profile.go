// Package membership runs vigil's gossip layer on serf and memberlist: it
// joins and leaves the cluster, keeps the member view, carries tags, and
// turns serf's events into vigil's events without ever blocking serf.
package membership

import (
	"fmt"
	"sort"

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
)

var profiles = map[Profile]func() *memberlist.Config{
	ProfileLAN:   memberlist.DefaultLANConfig,
	ProfileWAN:   memberlist.DefaultWANConfig,
	ProfileLocal: memberlist.DefaultLocalConfig,
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
