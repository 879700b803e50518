package membership

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/internal/clustertest"
)

// loopbackPort returns a loopback port free on TCP and UDP that stays
// reusable after its member stops (below the ephemeral range).
func loopbackPort(t *testing.T) int { return clustertest.FreePort(t) }

func startTestCluster(t *testing.T, name string, mutate func(*Config)) (*Cluster, string) {
	t.Helper()
	cfg := Config{NodeName: name, ClusterName: clustertest.ClusterName(), BindAddr: "127.0.0.1", BindPort: loopbackPort(t), Profile: ProfileLocal, Logger: zerolog.Nop()}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := Start(cfg, func(events.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return c, fmt.Sprintf("127.0.0.1:%d", cfg.BindPort)
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	clustertest.WaitEvery(t, d, 20*time.Millisecond, what, cond)
}

func statusIn(c *Cluster, name string) string {
	for _, m := range c.Members() {
		if m.Name == name {
			return string(m.Status)
		}
	}
	return ""
}

// TestPeersFileRejoinsAfterCrash: a member that joined is written to the
// peers file within about a second; after a crash (Shutdown without a
// leave) the member restarted with the file and no join is back in the
// cluster. It restarts on the same address: memberlist refuses a failed
// member's name from another address until it forgets the dead member.
func TestPeersFileRejoinsAfterCrash(t *testing.T) {
	a, aAddr := startTestCluster(t, "a", nil)
	peers := filepath.Join(t.TempDir(), "peers.json")
	bPort := loopbackPort(t)
	b, _ := startTestCluster(t, "b", func(c *Config) { c.PeersPath, c.BindPort = peers, bPort })
	if _, err := b.Join([]string{aAddr}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a in b's peers file", func() bool {
		ps, err := ReadPeers(peers)
		return err == nil && len(ps) == 1 && ps[0].Name == "a" && ps[0].Addr == aAddr && ps[0].Status == "alive"
	})
	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "a to see b fail", func() bool { return statusIn(a, "b") == "failed" })

	b2, _ := startTestCluster(t, "b", func(c *Config) { c.PeersPath, c.BindPort = peers, bPort })
	eventually(t, 10*time.Second, "restarted b to rejoin a", func() bool {
		return statusIn(b2, "a") == "alive" && statusIn(a, "b") == "alive"
	})
}

func TestReadPeersMissingFile(t *testing.T) {
	ps, err := ReadPeers(filepath.Join(t.TempDir(), "nope.json"))
	if err != nil || ps != nil {
		t.Fatalf("ReadPeers of a missing file = %v, %v; want nil, nil", ps, err)
	}
}

func TestTimingOverrides(t *testing.T) {
	tests := []struct {
		name     string
		profile  Profile
		override Timing
		want     Timing
	}{
		{name: "none keeps the profile", profile: ProfileLAN,
			want: Timing{ProbeInterval: time.Second, ProbeTimeout: 500 * time.Millisecond, SuspicionMult: 4,
				GossipInterval: 200 * time.Millisecond, GossipNodes: 3, RetransmitMult: 4,
				ReconnectInterval: 30 * time.Second, ReconnectTimeout: 24 * time.Hour}},
		{name: "every field", profile: ProfileFast,
			override: Timing{ProbeInterval: 2 * time.Second, ProbeTimeout: time.Second, SuspicionMult: 7,
				GossipInterval: 300 * time.Millisecond, GossipNodes: 5, RetransmitMult: 6,
				ReconnectInterval: 10 * time.Second, ReconnectTimeout: time.Hour},
			want: Timing{ProbeInterval: 2 * time.Second, ProbeTimeout: time.Second, SuspicionMult: 7,
				GossipInterval: 300 * time.Millisecond, GossipNodes: 5, RetransmitMult: 6,
				ReconnectInterval: 10 * time.Second, ReconnectTimeout: time.Hour}},
		{name: "one field over the local profile", profile: ProfileLocal, override: Timing{SuspicionMult: 5},
			want: Timing{ProbeInterval: time.Second, ProbeTimeout: 200 * time.Millisecond, SuspicionMult: 5,
				GossipInterval: 100 * time.Millisecond, GossipNodes: 3, RetransmitMult: 2,
				ReconnectInterval: 30 * time.Second, ReconnectTimeout: 24 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EffectiveTiming(tt.profile, tt.override)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("EffectiveTiming = %+v\nwant %+v", got, tt.want)
			}
		})
	}
	c, _ := startTestCluster(t, "timed", func(c *Config) {
		c.Timing = Timing{ProbeInterval: 700 * time.Millisecond, GossipNodes: 2, ReconnectTimeout: time.Hour}
	})
	want, _ := EffectiveTiming(ProfileLocal, Timing{ProbeInterval: 700 * time.Millisecond, GossipNodes: 2, ReconnectTimeout: time.Hour})
	if got := c.Timing(); got != want {
		t.Errorf("running cluster's Timing = %+v, want %+v", got, want)
	}
}
