package agent

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/membership"
)

func TestTimingValidation(t *testing.T) {
	tests := []struct {
		name string
		body string            // a config file
		opts map[string]string // flags applied after it
		want []string          // substrings of the errors; none: valid
		n    int               // how many errors; 0 means len(want)
	}{
		{name: "valid overrides", body: "probe_interval: 2s\nprobe_timeout: 1s\nsuspicion_mult: 5\ngossip_interval: 300ms\ngossip_nodes: 4\nretransmit_mult: 3\nreconnect_interval: 10s\nreconnect_timeout: 1h\n"},
		{name: "timeout under the profile's interval", body: "probe_timeout: 900ms\n"},
		{name: "timeout not shorter than interval, both in the file", body: "profile: lan\nprobe_interval: 500ms\nprobe_timeout: 500ms\n",
			want: []string{"vigil.yaml:3: probe_timeout: 500ms must be shorter than probe_interval (500ms, ", "/vigil.yaml:2)"}, n: 1},
		{name: "timeout over the profile's interval", body: "probe_timeout: 2s\n",
			want: []string{"vigil.yaml:1: probe_timeout: 2s must be shorter than probe_interval (1s, the lan profile's)"}},
		{name: "interval under the profile's timeout", body: "profile: wan\nprobe_interval: 2s\n",
			want: []string{"vigil.yaml:2: probe_interval: 2s must be longer than probe_timeout (3s, the wan profile's): set a shorter probe_timeout too"}},
		{name: "interval below the floor", body: "probe_interval: 50ms\nprobe_timeout: 20ms\n",
			want: []string{"vigil.yaml:1: probe_interval: 50ms: below the 100ms minimum"}},
		{name: "gossip interval below the floor", body: "gossip_interval: 1ms\n",
			want: []string{"vigil.yaml:1: gossip_interval: 1ms: below the 10ms minimum"}},
		{name: "zero and negatives", body: "probe_timeout: 0s\nsuspicion_mult: 0\ngossip_nodes: -1\nretransmit_mult: -2\nreconnect_interval: -1s\nreconnect_timeout: 0s\n",
			want: []string{
				"vigil.yaml:1: probe_timeout: 0s: must be positive",
				"vigil.yaml:2: suspicion_mult: 0: must be positive",
				"vigil.yaml:3: gossip_nodes: -1: must be positive",
				"vigil.yaml:4: retransmit_mult: -2: must be positive",
				"vigil.yaml:5: reconnect_interval: -1s: must be positive",
				"vigil.yaml:6: reconnect_timeout: 0s: must be positive",
			}},
		{name: "flag names the flag", body: "probe_interval: 1s\n", opts: map[string]string{"probe-timeout": "1s"},
			want: []string{"-probe-timeout: probe_timeout: 1s must be shorter than probe_interval (1s, ", "/vigil.yaml:1)"}, n: 1},
		{name: "bad flag values", opts: map[string]string{"gossip-nodes": "many", "probe-interval": "1"},
			want: []string{`-gossip-nodes: gossip_nodes: "many" is not a whole number`, `-probe-interval: probe_interval: "1" is not a duration`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			if tt.body != "" {
				if err := cfg.LoadFile(writeFile(t, tt.body)); err != nil {
					t.Fatal(err)
				}
			}
			var errs ConfigErrors
			for flag, v := range tt.opts {
				if err := cfg.ApplyOption(optionByFlag(t, flag), v, "-"+flag); err != nil {
					errs = append(errs, err.(*ConfigError))
				}
			}
			if len(errs) == 0 {
				if err := cfg.Validate(); err != nil {
					errs = err.(ConfigErrors)
				}
			}
			got := errs.Error()
			if len(tt.want) == 0 && len(errs) > 0 {
				t.Fatalf("unexpected errors:\n%s", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("errors:\n%s\nlack %q", got, w)
				}
			}
			n := tt.n
			if n == 0 {
				n = len(tt.want)
			}
			if len(errs) != n {
				t.Errorf("%d errors, want %d:\n%s", len(errs), n, got)
			}
		})
	}
}

// TestAgentRunsWithTimingOverrides: the overrides reach memberlist and serf
// of a running agent, over its profile's other values.
func TestAgentRunsWithTimingOverrides(t *testing.T) {
	a := startTestAgent(t, http.DefaultClient, func(c *Config) {
		c.ProbeInterval = Duration(700 * time.Millisecond)
		c.ProbeTimeout = Duration(300 * time.Millisecond)
		c.SuspicionMult = 5
		c.GossipNodes = 2
		c.ReconnectTimeout = Duration(time.Hour)
	})
	want := membership.Timing{
		ProbeInterval: 700 * time.Millisecond, ProbeTimeout: 300 * time.Millisecond, SuspicionMult: 5,
		GossipInterval: 100 * time.Millisecond, GossipNodes: 2, RetransmitMult: 2, // the local profile's
		ReconnectInterval: 30 * time.Second, ReconnectTimeout: time.Hour,
	}
	if got := a.Timing(); got != want {
		t.Errorf("Timing() = %+v\nwant %+v", got, want)
	}
	if self := a.Self(); self.Status != "alive" {
		t.Errorf("agent with overrides is %q, want alive", self.Status)
	}
}

func TestDrainValidation(t *testing.T) {
	cfg := Default()
	if err := cfg.LoadFile(writeFile(t, "drain: 5s\n")); err != nil {
		t.Fatal(err)
	}
	err := cfg.Validate()
	var ces ConfigErrors
	if !errors.As(err, &ces) || len(ces) != 1 || !strings.Contains(err.Error(), "vigil.yaml:1: drain: drain needs a service") {
		t.Errorf("drain without a service: %v", err)
	}
	cfg.Service = &ServiceConfig{Name: "web", Port: 8080}
	if err := cfg.Validate(); err != nil {
		t.Errorf("drain with a service: %v", err)
	}
	cfg.Drain = Duration(-time.Second)
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "drain: -1s: must not be negative") {
		t.Errorf("negative drain: %v", err)
	}
}
