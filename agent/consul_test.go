package agent

import (
	"slices"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/vigil-agent/vigil/probes"
)

// TestConsulAPIFollowsHealth: Consul's Go client against the Consul API
// of one agent of a real three-agent cluster: the catalog, the passing
// instances as their TTL checks pass and fail, a blocking query that
// returns when an instance fails, and writes refused.
func TestConsulAPIFollowsHealth(t *testing.T) {
	agents := dnsCluster(t, func(i int, c *Config) {
		if i == 0 {
			c.ConsulHTTP = "127.0.0.1:0"
		}
		c.Tags = map[string]string{"zone": "z" + string(rune('a'+i))}
	})
	if agents[1].ConsulAddr() != "" {
		t.Errorf("consul_http off: listening on %s", agents[1].ConsulAddr())
	}
	c, err := consulapi.NewClient(&consulapi.Config{Address: agents[0].ConsulAddr()})
	if err != nil {
		t.Fatal(err)
	}
	passing := func(q *consulapi.QueryOptions) ([]string, uint64) {
		t.Helper()
		entries, meta, err := c.Health().Service("web", "", true, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Node.Node+"="+e.Service.Address)
		}
		return out, meta.LastIndex
	}
	all := []string{"web-1=127.0.0.1", "web-2=127.0.0.2", "web-3=127.0.0.3"}

	waitUntil(t, 20*time.Second, "the catalog to list web's three instances", func() bool {
		cat, _, err := c.Catalog().Service("web", "", nil)
		return err == nil && len(cat) == 3
	})
	if got, _ := passing(nil); len(got) != 0 {
		t.Errorf("passing before any check passed: %v", got)
	}
	for _, a := range agents {
		if err := a.UpdateTTL("ready", probes.Passing, ""); err != nil {
			t.Fatal(err)
		}
	}
	var idx uint64
	waitUntil(t, 20*time.Second, "three passing instances", func() bool {
		var got []string
		got, idx = passing(nil)
		return slices.Equal(got, all)
	})
	entries, _, err := c.Health().Service("web", "primary", true, nil)
	if err != nil || len(entries) != 1 || entries[0].Node.Node != "web-1" || entries[0].Node.Meta["zone"] != "za" ||
		entries[0].Service.Meta["role"] != "primary" || entries[0].Service.Port != 8081 {
		t.Errorf("tag primary: %v %v", entries, err)
	}

	// A blocking query with the last index returns when web-2 fails.
	type result struct {
		nodes []string
		index uint64
	}
	got := make(chan result, 1)
	go func() {
		n, i := passing(&consulapi.QueryOptions{WaitIndex: idx, WaitTime: time.Minute})
		got <- result{n, i}
	}()
	if err := agents[1].UpdateTTL("ready", probes.Critical, "down"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var r result
	for r.nodes == nil || slices.Equal(r.nodes, all) {
		select {
		case r = <-got:
		case <-time.After(30 * time.Second):
			t.Fatal("the blocking query did not return after web-2 failed")
		}
		if slices.Equal(r.nodes, all) { // woken by another change: block again
			go func(i uint64) {
				n, i2 := passing(&consulapi.QueryOptions{WaitIndex: i, WaitTime: time.Minute})
				got <- result{n, i2}
			}(r.index)
		}
	}
	if !slices.Equal(r.nodes, []string{all[0], all[2]}) || r.index <= idx {
		t.Errorf("after web-2 failed: %v, index %d (was %d)", r.nodes, r.index, idx)
	}
	t.Logf("the blocking query returned %s after the check failed", time.Since(start).Round(time.Millisecond))

	if err := c.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{Name: "x", Port: 1}); err == nil {
		t.Error("a service registration was accepted")
	}
	if self, err := c.Agent().Self(); err != nil || self["Config"]["NodeName"] != "web-1" || self["Config"]["Datacenter"] != "dc1" {
		t.Errorf("agent self: %v %v", self, err)
	}
}

// TestValidateConsul: the consul keys' errors.
func TestValidateConsul(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"off", "consul_http: \"\"\n", ""},
		{"on", "consul_http: 127.0.0.1:8500\nconsul_datacenter: east-1\nconsul_http_max_connections: 16\n", ""},
		{"bad address", "consul_http: 8500\n", `consul_http: "8500": want HOST:PORT`},
		{"bad datacenter", "consul_datacenter: \"a b\"\n", "want 1 to 64 letters"},
		{"empty datacenter", "consul_datacenter: \"\"\n", "want 1 to 64 letters"},
		{"no connections", "consul_http_max_connections: 0\n", "must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkValidate(t, tt.body, tt.want) })
	}
}
