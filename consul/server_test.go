package consul

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
)

// fakeSource is a Source over instances the test changes.
type fakeSource struct {
	mu        sync.Mutex
	instances []Instance
}

func (f *fakeSource) Instances() []Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.instances)
}

func (f *fakeSource) Self() Self {
	return Self{Name: "web-1", Addr: "10.0.0.1", Port: 7946, Tags: map[string]string{"role": "edge"}, Version: "1.2.3"}
}

// set changes the health of node's instance.
func (f *fakeSource) set(node string, health events.HealthStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.instances {
		if f.instances[i].Node == node {
			f.instances[i].Health = health
		}
	}
}

func testSource() *fakeSource {
	return &fakeSource{instances: []Instance{
		{Service: "web", Node: "web-1", NodeAddr: "10.0.0.1", NodeMeta: map[string]string{"role": "edge"}, Addr: "10.0.0.1", Port: 8080,
			Tags: map[string]string{"role": "primary", "version": "1.4"}, Health: "passing", Status: "alive"},
		{Service: "web", Node: "web-2", NodeAddr: "10.0.0.2", Addr: "10.0.0.2", Port: 8080,
			Tags: map[string]string{"role": "replica", "version": "1.4"}, Health: "passing", Status: "alive"},
		{Service: "web", Node: "web-3", NodeAddr: "10.0.0.3", Addr: "10.0.0.3", Port: 8080,
			Tags: map[string]string{"role": "replica"}, Health: "critical", Status: "alive"},
		{Service: "web", Node: "web-4", NodeAddr: "10.0.0.4", Addr: "10.0.0.4", Port: 8080, Health: "critical", Status: "failed"},
		{Service: "web", Node: "web-5", NodeAddr: "10.0.0.5", Addr: "10.0.0.5", Port: 8080, Health: "left", Status: "left"},
		{Service: "db", Node: "db-1", NodeAddr: "10.0.1.1", Addr: "10.0.1.1", Port: 5432, Health: "maintenance", Status: "alive"},
	}}
}

// serve runs a Server for src on a free loopback port and returns its
// address and a Consul client for it.
func serve(t *testing.T, src Source, cfg Config) (string, *consulapi.Client) {
	addr, c, _ := serveServer(t, src, cfg)
	return addr, c
}

// serveServer is serve, with the Server.
func serveServer(t *testing.T, src Source, cfg Config) (string, *consulapi.Client, *Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(src, cfg, zerolog.Nop())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	c, err := consulapi.NewClient(&consulapi.Config{Address: ln.Addr().String(), Scheme: "http"})
	if err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String(), c, s
}

// waitWaiters waits until n blocking queries wait on s.
func waitWaiters(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.view.mu.Lock()
		w := s.view.waiters
		s.view.mu.Unlock()
		if w == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d blocking queries wait, want %d", w, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func nodes[T any](list []T, node func(T) string) []string {
	out := []string{}
	for _, e := range list {
		out = append(out, node(e))
	}
	return out
}

// TestConsulClient reads every endpoint with Consul's own Go client.
func TestConsulClient(t *testing.T) {
	_, c := serve(t, testSource(), Config{})

	services, meta, err := c.Catalog().Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]string{"web": {"1.4", "primary", "replica"}, "db": {}}; fmt.Sprint(services) != fmt.Sprint(want) {
		t.Errorf("catalog services %v, want %v", services, want)
	}
	if meta.LastIndex == 0 || !meta.KnownLeader {
		t.Errorf("query meta %+v", meta)
	}

	cat, _, err := c.Catalog().Service("web", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := nodes(cat, func(s *consulapi.CatalogService) string { return s.Node }); !slices.Equal(got, []string{"web-1", "web-2", "web-3", "web-4"}) {
		t.Errorf("catalog service web: %v (a member that left is deregistered, a failed one is not)", got)
	}
	first := cat[0]
	if first.Address != "10.0.0.1" || first.ServiceAddress != "10.0.0.1" || first.ServicePort != 8080 || first.Datacenter != "dc1" ||
		!slices.Equal(first.ServiceTags, []string{"1.4", "primary"}) || first.ServiceMeta["role"] != "primary" || first.NodeMeta["role"] != "edge" ||
		first.ServiceName != "web" || first.ServiceID != "web" || first.ServiceWeights.Passing != 1 {
		t.Errorf("catalog entry %+v", first)
	}

	tests := []struct {
		name    string
		tag     string
		passing bool
		want    []string
	}{
		{"every instance", "", false, []string{"web-1", "web-2", "web-3", "web-4"}},
		{"passing", "", true, []string{"web-1", "web-2"}},
		{"tag", "replica", false, []string{"web-2", "web-3"}},
		{"tag, case folded, passing", "REPLICA", true, []string{"web-2"}},
		{"no such tag", "canary", false, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, _, err := c.Health().Service("web", tt.tag, tt.passing, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := nodes(entries, func(e *consulapi.ServiceEntry) string { return e.Node.Node }); !slices.Equal(got, tt.want) {
				t.Errorf("health service web: %v, want %v", got, tt.want)
			}
		})
	}

	entries, _, err := c.Health().Service("web", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	statuses := func(e *consulapi.ServiceEntry) string {
		var s []string
		for _, ch := range e.Checks {
			s = append(s, ch.CheckID+"="+ch.Status)
		}
		return strings.Join(s, " ")
	}
	for i, want := range []string{
		"serfHealth=passing service:web=passing",
		"serfHealth=passing service:web=passing",
		"serfHealth=passing service:web=critical",
		"serfHealth=critical service:web=critical",
	} {
		if got := statuses(entries[i]); got != want {
			t.Errorf("%s checks: %s, want %s", entries[i].Node.Node, got, want)
		}
		if entries[i].Checks.AggregatedStatus() == consulapi.HealthPassing && i >= 2 {
			t.Errorf("%s aggregates to passing", entries[i].Node.Node)
		}
	}
	if e := entries[0]; e.Service.Address != "10.0.0.1" || e.Service.Port != 8080 || e.Node.Address != "10.0.0.1" || e.Service.Meta["version"] != "1.4" {
		t.Errorf("health entry %+v %+v", e.Node, e.Service)
	}
	db, _, err := c.Health().Service("db", "", false, nil)
	if err != nil || len(db) != 1 || statuses(db[0]) != "serfHealth=passing _service_maintenance:db=critical service:db=passing" ||
		db[0].Checks.AggregatedStatus() != consulapi.HealthMaint {
		t.Errorf("db in maintenance: %v %v", db, err)
	}
	if db, _, _ := c.Health().Service("db", "", true, nil); len(db) != 0 {
		t.Errorf("passing db: %v", db)
	}

	self, err := c.Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	if self["Config"]["Datacenter"] != "dc1" || self["Config"]["NodeName"] != "web-1" || self["Member"]["Addr"] != "10.0.0.1" {
		t.Errorf("agent self %v", self)
	}
	if leader, err := c.Status().Leader(); err != nil || leader != "10.0.0.1:7946" {
		t.Errorf("leader %q %v", leader, err)
	}
}

// TestConsulBlockingQuery: a query with the last index waits until the
// view changes and then answers with a larger index; one that waits
// past ?wait= answers the same index; an index from before a restart
// answers at once.
func TestConsulBlockingQuery(t *testing.T) {
	src := testSource()
	_, c, s := serveServer(t, src, Config{PollInterval: 20 * time.Millisecond})
	_, meta, err := c.Health().Service("web", "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	idx := meta.LastIndex

	// Nothing changes: the wait ends with the same index.
	_, m2, err := c.Health().Service("web", "", true, &consulapi.QueryOptions{WaitIndex: idx, WaitTime: 100 * time.Millisecond})
	if err != nil || m2.LastIndex != idx {
		t.Fatalf("after a quiet wait: index %d (%v), want %d", m2.LastIndex, err, idx)
	}

	type result struct {
		entries []*consulapi.ServiceEntry
		meta    *consulapi.QueryMeta
		err     error
	}
	got := make(chan result, 1)
	go func() {
		e, m, err := c.Health().Service("web", "", true, &consulapi.QueryOptions{WaitIndex: idx, WaitTime: time.Minute})
		got <- result{e, m, err}
	}()
	waitWaiters(t, s, 1)
	select {
	case r := <-got:
		t.Fatalf("answered before any change: %v %v", r.meta, r.err)
	default:
	}
	src.set("web-2", "critical")
	var r result
	select {
	case r = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the blocking query did not return after the change")
	}
	if r.err != nil || r.meta.LastIndex <= idx || len(r.entries) != 1 || r.entries[0].Node.Node != "web-1" {
		t.Errorf("after the change: %d entries, index %d (was %d), %v", len(r.entries), r.meta.LastIndex, idx, r.err)
	}

	// An index the agent never gave (a client of an earlier run): at once.
	start := time.Now()
	if _, m, err := c.Catalog().Services(&consulapi.QueryOptions{WaitIndex: r.meta.LastIndex + 1000, WaitTime: time.Minute}); err != nil || m.LastIndex != r.meta.LastIndex {
		t.Errorf("unknown index: %v %v", m, err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("an unknown index blocked")
	}
}

// get sends a raw GET and returns the status, X-Consul-Index and body.
func get(t *testing.T, addr, path string) (int, string, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Consul-Index"), string(b)
}

// TestClientRequestPatterns sends the requests consul-template and
// Prometheus' consul_sd_configs send, as they send them, and follows a
// change through their blocking loop.
func TestClientRequestPatterns(t *testing.T) {
	src := testSource()
	addr, _, s := serveServer(t, src, Config{PollInterval: 20 * time.Millisecond})

	// consul-template: {{ range services }} and {{ range service "web" }}
	// (passing only, stale reads, wait in milliseconds).
	st, idx, body := get(t, addr, "/v1/catalog/services?stale=&wait=60000ms")
	if st != 200 || idx == "" || !strings.Contains(body, `"web":["1.4","primary","replica"]`) {
		t.Fatalf("consul-template services: %d %q %s", st, idx, body)
	}
	st, idx, body = get(t, addr, "/v1/health/service/web?passing=1&stale=&wait=60000ms")
	var entries []ServiceEntry
	if err := json.Unmarshal([]byte(body), &entries); st != 200 || err != nil || len(entries) != 2 {
		t.Fatalf("consul-template service web: %d %s %v", st, body, err)
	}
	done := make(chan string, 1)
	go func() {
		_, _, body := get(t, addr, "/v1/health/service/web?index="+idx+"&passing=1&stale=&wait=60000ms")
		done <- body
	}()
	waitWaiters(t, s, 1)
	src.set("web-3", "passing")
	select {
	case body = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("consul-template's blocking query did not return")
	}
	if err := json.Unmarshal([]byte(body), &entries); err != nil || len(entries) != 3 {
		t.Errorf("after web-3 passed: %s %v", body, err)
	}

	// Prometheus: the datacenter from agent/self, then the catalog and each
	// service's health with every instance (its __meta_consul_health), stale,
	// with a 2-minute wait, the tags and node-meta of its config.
	st, _, body = get(t, addr, "/v1/agent/self")
	var self map[string]map[string]any
	if err := json.Unmarshal([]byte(body), &self); st != 200 || err != nil || self["Config"]["Datacenter"] != "dc1" {
		t.Fatalf("prometheus agent/self: %d %s %v", st, body, err)
	}
	st, idx, body = get(t, addr, "/v1/catalog/services?dc=dc1&stale=&wait=120000ms")
	if st != 200 || idx == "" || !strings.Contains(body, `"db":[]`) {
		t.Errorf("prometheus catalog: %d %q %s", st, idx, body)
	}
	st, _, body = get(t, addr, "/v1/health/service/web?dc=dc1&stale=&tag=replica&node-meta=role:edge&wait=120000ms")
	if st != 200 || body != "[]\n" {
		t.Errorf("prometheus health with tag and node-meta: %d %s", st, body)
	}
	st, _, body = get(t, addr, "/v1/health/service/web?dc=dc1&stale=&tag=primary&node-meta=role:edge&wait=120000ms")
	if err := json.Unmarshal([]byte(body), &entries); st != 200 || err != nil || len(entries) != 1 {
		t.Errorf("prometheus health with tag and node-meta: %d %s", st, body)
	}
}

// TestReadOnlyAndRefusals: writes are a 405 that points to vigil's API;
// another datacenter, filter expressions, bad parameters, unknown paths
// and a foreign Host are refused.
func TestReadOnlyAndRefusals(t *testing.T) {
	addr, c := serve(t, testSource(), Config{AllowedHosts: []string{"vigil.internal"}})
	err := c.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{Name: "x", Port: 1})
	if err == nil || !strings.Contains(err.Error(), "405") || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("service register: %v", err)
	}
	if _, err := c.KV().Put(&consulapi.KVPair{Key: "k", Value: []byte("v")}, nil); err == nil || !strings.Contains(err.Error(), "405") {
		t.Errorf("kv put: %v", err)
	}
	tests := []struct {
		name, method, path, host string
		status                   int
		want                     string
	}{
		{"another datacenter", "GET", "/v1/health/service/web?dc=dc2", "", 500, "No path to datacenter"},
		{"filter", "GET", "/v1/catalog/services?filter=Service%20%3D%3D%20web", "", 400, "filter expressions are not supported"},
		{"bad index", "GET", "/v1/catalog/services?index=x", "", 400, "invalid index"},
		{"bad wait", "GET", "/v1/catalog/services?index=1&wait=forever", "", 400, "invalid wait"},
		{"bad node-meta", "GET", "/v1/catalog/services?node-meta=role", "", 400, "KEY:VALUE"},
		{"bad passing", "GET", "/v1/health/service/web?passing=maybe", "", 400, "invalid passing"},
		{"unknown endpoint", "GET", "/v1/kv/k", "", 404, "vigil answers these of Consul's endpoints"},
		{"delete", "DELETE", "/v1/kv/k", "", 405, "vigil's own API"},
		{"put on a read", "PUT", "/v1/catalog/services", "", 405, "read-only"},
		{"a rebound Host", "GET", "/v1/catalog/services", "evil.example", 403, "http_allowed_hosts"},
		{"an allowed name", "GET", "/v1/catalog/services", "vigil.internal:8500", 200, `"web"`},
		{"localhost", "GET", "/v1/status/leader", "localhost:8500", 200, `"10.0.0.1:7946"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://"+addr+tt.path, nil)
			if tt.host != "" {
				req.Host = tt.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.want) || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s: %d %s %s, want %d with %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), b, tt.status, tt.want)
			}
		})
	}
}

// TestShutdownEndsBlockingQueries: Shutdown answers the queries that
// wait instead of holding them to their wait.
func TestShutdownEndsBlockingQueries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(testSource(), Config{}, zerolog.Nop())
	go s.Serve(ln)
	c, _ := consulapi.NewClient(&consulapi.Config{Address: ln.Addr().String()})
	_, meta, err := c.Catalog().Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, _, err := c.Catalog().Services(&consulapi.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 10 * time.Minute})
		got <- err
	}()
	waitWaiters(t, s, 1) // the test is that Shutdown does not wait its 10 minutes
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	select {
	case <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("the blocking query outlived the server")
	}
}
