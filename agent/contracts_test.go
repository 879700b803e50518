package agent

import (
	"maps"
	"testing"
)

// TestGossipTagsArePinned pins the tags an agent gossips about itself and
// its service: agents of other versions read health, instances and the
// failover's life (boot, epoch) from them, so a renamed or re-encoded tag
// makes an old and a new agent disagree about who is healthy during a
// rolling upgrade. A change that makes this fail needs the readers to
// accept both forms first.
func TestGossipTagsArePinned(t *testing.T) {
	c := &Config{Tags: map[string]string{"role": "replica", "dc": "east"}, boot: "dndxbwrck3ev",
		Service: &ServiceConfig{Name: "db", Port: 5432, Address: "10.0.0.6", Tags: map[string]string{"version": "15"}}}
	want := map[string]string{
		"role": "replica", "dc": "east",
		"boot":         "dndxbwrck3ev",
		"service":      "db",
		"service_port": "5432",
		"service_addr": "10.0.0.6",
		"svc:version":  "15",
		"health":       "passing",
		"health_seq":   "3",
	}
	if got := c.gossipTags("passing", 3); !maps.Equal(got, want) {
		t.Errorf("gossip tags:\n got %v\nwant %v", got, want)
	}
	noService := &Config{Tags: map[string]string{"role": "witness"}, boot: "b1"}
	if got, want := noService.gossipTags("", 0), map[string]string{"role": "witness", "boot": "b1"}; !maps.Equal(got, want) {
		t.Errorf("gossip tags without a service: %v, want %v", got, want)
	}
}
