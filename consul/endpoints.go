package consul

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-agent/vigil/events"
)

// Check ids and names of the checks a health entry carries: Consul's
// node check, and one for the service standing for vigil's checks (whose
// statuses are not gossiped one by one, only the service's health).
const (
	nodeCheckID      = "serfHealth"
	maintCheckPrefix = "_service_maintenance:"
	serviceCheckType = "vigil"
)

// query is the instance filter of a request: ?tag= (every one must be a
// value of the service's tags, case folded), ?node-meta=KEY:VALUE (every
// one must be a tag of the member), ?passing.
type query struct {
	tags     []string
	nodeMeta [][2]string
	passing  bool
}

func parseQuery(r *http.Request) (query, error) {
	q := r.URL.Query()
	var out query
	out.tags = q["tag"]
	for _, nm := range q["node-meta"] {
		k, v, ok := strings.Cut(nm, ":")
		if !ok {
			return out, fmt.Errorf("invalid node-meta %q: want KEY:VALUE", nm)
		}
		out.nodeMeta = append(out.nodeMeta, [2]string{k, v})
	}
	if v, ok := q["passing"]; ok {
		switch strings.ToLower(v[0]) {
		case "", "1", "true":
			out.passing = true
		case "0", "false":
		default:
			return out, fmt.Errorf("invalid passing %q: want true or false", v[0])
		}
	}
	return out, nil
}

// match reports whether in is listed for the query: its member has not
// left (Consul deregisters a node that leaves; a failed one stays, its
// checks critical), and it passes the filters.
func (q query) match(in Instance) bool {
	if in.Status == events.StatusLeft || in.Status == events.StatusLeaving {
		return false
	}
	if q.passing && (in.Status != events.StatusAlive || in.Health != events.HealthPassing) {
		return false
	}
	values := tagValues(in.Tags)
	for _, t := range q.tags {
		if !slices.ContainsFunc(values, func(v string) bool { return strings.EqualFold(v, t) }) {
			return false
		}
	}
	for _, kv := range q.nodeMeta {
		if v, ok := in.NodeMeta[kv[0]]; !ok || v != kv[1] {
			return false
		}
	}
	return true
}

// tagValues is a service's tags as Consul's tag list: the values of
// vigil's KEY: VALUE tags, sorted, without empty or repeated ones. The
// pairs themselves are the service's Meta.
func tagValues(tags map[string]string) []string {
	out := []string{}
	for _, v := range tags {
		if v != "" {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// listed waits as the request's ?index= and ?wait= ask and returns the
// instances of the service name (all services when name is "") that the
// query lets through, with the index; false when the request is answered
// already (an error) or the client went away.
func (s *Server) listed(w http.ResponseWriter, r *http.Request, name string) (uint64, []Instance, bool) {
	index, wait, err := blockingParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return 0, nil, false
	}
	q, err := parseQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return 0, nil, false
	}
	idx, all, ok := s.view.await(r.Context(), index, wait)
	if !ok {
		return 0, nil, false
	}
	var out []Instance
	for _, in := range all {
		if (name == "" || strings.EqualFold(in.Service, name)) && q.match(in) {
			out = append(out, in)
		}
	}
	setQueryMeta(w, idx)
	return idx, out, true
}

// catalogServices answers GET /v1/catalog/services: every service's name
// and the union of its instances' tags.
func (s *Server) catalogServices(w http.ResponseWriter, r *http.Request) {
	_, list, ok := s.listed(w, r, "")
	if !ok {
		return
	}
	out := map[string][]string{}
	for _, in := range list {
		if out[in.Service] == nil {
			out[in.Service] = []string{}
		}
		out[in.Service] = append(out[in.Service], tagValues(in.Tags)...)
	}
	for k, v := range out {
		slices.Sort(v)
		out[k] = slices.Compact(v)
	}
	writeJSON(w, http.StatusOK, out)
}

// catalogService answers GET /v1/catalog/service/NAME: the instances
// whatever their health (as Consul's catalog), sorted by node.
func (s *Server) catalogService(w http.ResponseWriter, r *http.Request) {
	idx, list, ok := s.listed(w, r, r.PathValue("name"))
	if !ok {
		return
	}
	out := make([]CatalogService, 0, len(list))
	for _, in := range list {
		out = append(out, CatalogService{
			ID: "", Node: in.Node, Address: in.NodeAddr, Datacenter: s.dc,
			TaggedAddresses: taggedAddresses(in.NodeAddr), NodeMeta: orEmpty(in.NodeMeta),
			ServiceID: in.Service, ServiceName: in.Service, ServiceAddress: in.Addr,
			ServiceTags: tagValues(in.Tags), ServiceMeta: orEmpty(in.Tags), ServicePort: in.Port,
			ServiceWeights: Weights{Passing: 1, Warning: 1}, CreateIndex: idx, ModifyIndex: idx,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// healthService answers GET /v1/health/service/NAME: the instances with
// their node, service and checks (?passing: only those whose checks all
// pass), sorted by node.
func (s *Server) healthService(w http.ResponseWriter, r *http.Request) {
	idx, list, ok := s.listed(w, r, r.PathValue("name"))
	if !ok {
		return
	}
	out := make([]ServiceEntry, 0, len(list))
	for _, in := range list {
		tags := tagValues(in.Tags)
		nodeCheck := HealthCheck{Node: in.Node, CheckID: nodeCheckID, Name: "Serf Health Status",
			Status: events.HealthPassing, Output: "Agent alive and reachable", ServiceTags: []string{}, CreateIndex: idx, ModifyIndex: idx}
		if in.Status != events.StatusAlive {
			nodeCheck.Status, nodeCheck.Output = events.HealthCritical, "Agent not live or unreachable"
		}
		checks := []HealthCheck{nodeCheck}
		svcCheck := HealthCheck{Node: in.Node, CheckID: "service:" + in.Service, Name: "Service '" + in.Service + "' check",
			Status: in.Health, Output: "vigil health: " + string(in.Health), ServiceID: in.Service, ServiceName: in.Service,
			ServiceTags: tags, Type: serviceCheckType, CreateIndex: idx, ModifyIndex: idx}
		switch in.Health {
		case events.HealthPassing, events.HealthWarning, events.HealthCritical:
		case events.HealthMaintenance:
			svcCheck.Status = events.HealthPassing
			checks = append(checks, HealthCheck{Node: in.Node, CheckID: maintCheckPrefix + in.Service, Name: "Service Maintenance Mode",
				Status: events.HealthCritical, Notes: "vigil maintenance", ServiceID: in.Service, ServiceName: in.Service,
				ServiceTags: tags, Type: "maintenance", CreateIndex: idx, ModifyIndex: idx})
		default:
			svcCheck.Status = events.HealthCritical
		}
		if in.Status != events.StatusAlive {
			svcCheck.Status = events.HealthCritical
		}
		checks = append(checks, svcCheck)
		out = append(out, ServiceEntry{
			Node: &Node{Node: in.Node, Address: in.NodeAddr, Datacenter: s.dc, TaggedAddresses: taggedAddresses(in.NodeAddr),
				Meta: orEmpty(in.NodeMeta), CreateIndex: idx, ModifyIndex: idx},
			Service: &AgentService{ID: in.Service, Service: in.Service, Tags: tags, Meta: orEmpty(in.Tags), Port: in.Port,
				Address: in.Addr, Weights: Weights{Passing: 1, Warning: 1}, CreateIndex: idx, ModifyIndex: idx, Datacenter: s.dc},
			Checks: checks,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func taggedAddresses(addr string) map[string]string {
	return map[string]string{"lan": addr, "wan": addr}
}

// agentSelf answers GET /v1/agent/self: what Consul's clients read of it
// (Config.Datacenter, Config.NodeName, Member).
func (s *Server) agentSelf(w http.ResponseWriter, r *http.Request) {
	self := s.src.Self()
	writeJSON(w, http.StatusOK, map[string]any{
		"Config": map[string]any{
			"Datacenter": s.dc, "PrimaryDatacenter": s.dc, "NodeName": self.Name, "NodeID": "",
			"Server": false, "Revision": "", "Version": self.Version,
		},
		"Member": map[string]any{
			"Name": self.Name, "Addr": self.Addr, "Port": self.Port, "Tags": orEmpty(self.Tags), "Status": 1,
		},
		"Meta":  map[string]string{},
		"Stats": map[string]any{},
	})
}

// statusLeader answers GET /v1/status/leader. vigil has no leader (and
// no servers): the agent names its own gossip address, so that clients
// that check for a leader before they start find one.
func (s *Server) statusLeader(w http.ResponseWriter, r *http.Request) {
	self := s.src.Self()
	writeJSON(w, http.StatusOK, net.JoinHostPort(self.Addr, strconv.Itoa(self.Port)))
}

// guardHost refuses a request whose Host is not loopback, the address
// the connection came in on, or an allowed name: a web page on a name
// its author re-points at this host (DNS rebinding) can't read the
// catalogue.
func (s *Server) guardHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := normalizeHost(r.Host)
		if host == "" || host == "localhost" || s.allowed[host] {
			next.ServeHTTP(w, r)
			return
		}
		if ip := net.ParseIP(host); ip != nil {
			if ip.IsLoopback() {
				next.ServeHTTP(w, r)
				return
			}
			if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
				if lh, _, err := net.SplitHostPort(la.String()); err == nil && net.ParseIP(lh).Equal(ip) {
					next.ServeHTTP(w, r)
					return
				}
			}
		}
		if now := time.Now().UnixNano(); now-s.lastRefusal.Load() > int64(10*time.Second) {
			s.lastRefusal.Store(now)
			s.log.Warn().Str("component", "consul").Str("host", r.Host).Str("remote", r.RemoteAddr).
				Msg("request refused: Host is not this agent's (logged at most every 10 s)")
		}
		writeError(w, http.StatusForbidden, fmt.Sprintf("Host %q is not this agent's: use its address, or add the name to http_allowed_hosts", r.Host))
	})
}

// normalizeHost lower-cases a Host header's host, without port or IPv6
// brackets.
func normalizeHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
}
