package bench

import (
	"math"
	"time"

	"github.com/vigil-agent/vigil/membership"
)

// Theory is memberlist's failure-detection timing for one profile and N.
type Theory struct {
	Profile       string `json:"profile"`
	N             int    `json:"n"`
	ProbeInterval Num    `json:"probe_interval_ms"`
	// SuspicionMinMS = SuspicionMult × max(1, log10 N) × ProbeInterval:
	// the suspicion timeout once enough peers confirm the suspicion.
	SuspicionMinMS Num `json:"suspicion_min_ms"`
	// SuspicionMaxMS = SuspicionMaxTimeoutMult × min: with no confirmation.
	SuspicionMaxMS Num `json:"suspicion_max_ms"`
	// FloorMS = ProbeInterval + SuspicionMinMS, the usual detection floor
	// (a probe round to suspect, then the minimum suspicion).
	FloorMS Num `json:"floor_ms"`
}

// TheoryFor computes the timing from vigil's profile table (lan, wan,
// local are memberlist's own defaults, which serf agent's -profile uses
// too; fast is vigil's).
func TheoryFor(profile string, n int) Theory {
	cfg, err := membership.MemberlistConfig(membership.Profile(profile))
	if err != nil {
		return Theory{Profile: profile, N: n, ProbeInterval: nan, SuspicionMinMS: nan, SuspicionMaxMS: nan, FloorMS: nan}
	}
	scale := math.Max(1, math.Log10(float64(n)))
	minT := float64(cfg.SuspicionMult) * scale * float64(cfg.ProbeInterval) / float64(time.Millisecond)
	pi := float64(cfg.ProbeInterval) / float64(time.Millisecond)
	return Theory{Profile: profile, N: n, ProbeInterval: Num(pi), SuspicionMinMS: Num(minT),
		SuspicionMaxMS: Num(minT * float64(cfg.SuspicionMaxTimeoutMult)), FloorMS: Num(pi + minT)}
}
