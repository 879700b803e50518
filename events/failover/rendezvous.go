package failover

import (
	"hash/fnv"
	"sort"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/hook"
)

// Rank orders the agents eligible to run hook for the failure with base
// key, best first: alive members with the eligible tags, the subject
// excluded, by highest rendezvous hash of (hook, key, member). Every agent
// with the same view gets the same order, and when the first is gone the
// second takes over: only the failures of higher-ranked agents move it.
func Rank(hookName, key, subject string, eligible map[string]string, members []events.Member) []string {
	type cand struct {
		name  string
		score uint64
	}
	var cands []cand
	for _, m := range members {
		if m.Status != events.StatusAlive || m.Name == subject || !hook.HasTags(m.Tags, eligible) {
			continue
		}
		cands = append(cands, cand{m.Name, rendezvousScore(hookName, key, m.Name)})
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].score != cands[j].score {
			return cands[i].score > cands[j].score
		}
		return cands[i].name < cands[j].name
	})
	out := make([]string, len(cands))
	for i, c := range cands {
		out[i] = c.name
	}
	return out
}

// rendezvousScore hashes (hook, key, member) with FNV-1a and a final
// splitmix64 mix, so nearby names still spread evenly.
func rendezvousScore(hookName, key, member string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(hookName))
	h.Write([]byte{0})
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(member))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
