package http

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/probes"
)

// TTLRequest is the optional body of PUT /v1/checks/{id}/pass|warn|fail.
type TTLRequest struct {
	// Note becomes the check's output.
	Note string `json:"note"`
}

// MaintenanceRequest is the body of PUT /v1/maintenance.
type MaintenanceRequest struct {
	// Enable drains the instance (true) or restores it (false). Required.
	Enable *bool `json:"enable"`
	// Reason is shown in /v1/self and the logs.
	Reason string `json:"reason"`
}

// MaintenanceResponse answers PUT /v1/maintenance.
type MaintenanceResponse struct {
	// Maintenance is the instance's new maintenance state.
	Maintenance bool `json:"maintenance"`
}

// PickStrategies are the values GET /v1/pick/{name}?strategy= accepts.
var PickStrategies = []string{"random", "round_robin", "nearest"}

var ttlActions = map[string]probes.Status{"pass": probes.Passing, "warn": probes.Warning, "fail": probes.Critical}

func (s *Server) handleChecks(w http.ResponseWriter, r *http.Request) {
	checks := s.agent.Checks()
	if checks == nil {
		checks = []probes.State{}
	}
	writeJSON(w, http.StatusOK, checks)
}

func (s *Server) handleTTL(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), r.PathValue("action")
	status, ok := ttlActions[action]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s (want .../pass, .../warn or .../fail)", r.URL.Path))
		return
	}
	var req TTLRequest
	if err := decodeOptionalBody(w, r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	err := s.agent.UpdateTTL(id, status, req.Note)
	switch {
	case errors.Is(err, probes.ErrUnknownCheck):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, probes.ErrNotTTL):
		writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]string{"id": id, "status": string(status)})
	}
}

// decodeOptionalBody decodes a JSON body into dst when there is one; an
// empty body leaves dst as it is.
func decodeOptionalBody(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return nil
	}
	return decodeJSON(body, dst)
}

func (s *Server) handleService(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	passingOnly, err := flagParam(r, "passing")
	if err != nil {
		writeAPIError(w, err)
		return
	}
	out := make([]Instance, 0)
	for _, in := range s.agent.Instances(name) {
		if passingOnly && !isPassing(in) {
			continue
		}
		out = append(out, normalizeInstance(in))
	}
	writeJSON(w, http.StatusOK, out)
}

func isPassing(in Instance) bool {
	return in.Status == events.StatusAlive && in.Health == events.HealthPassing
}

func normalizeInstance(in Instance) Instance {
	if in.Tags == nil {
		in.Tags = map[string]string{}
	}
	return in
}

// roundRobin keeps one counter per service for ?strategy=round_robin.
type roundRobin struct {
	mu   sync.Mutex
	next map[string]uint64
}

func (rr *roundRobin) take(service string) uint64 {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.next == nil {
		rr.next = map[string]uint64{}
	}
	n := rr.next[service]
	rr.next[service] = n + 1
	return n
}

func (s *Server) handlePick(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	strategy := r.URL.Query().Get("strategy")
	if strategy == "" {
		strategy = "random"
	}
	var passing []Instance
	for _, in := range s.agent.Instances(name) {
		if isPassing(in) {
			passing = append(passing, normalizeInstance(in))
		}
	}
	var pick Instance
	switch strategy {
	case "random", "round_robin", "nearest":
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid strategy %q: want random, round_robin or nearest", strategy))
		return
	}
	if len(passing) == 0 {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("no passing instance of service %q", name))
		return
	}
	switch strategy {
	case "random":
		pick = passing[rand.IntN(len(passing))]
	case "round_robin":
		pick = passing[s.rr.take(name)%uint64(len(passing))]
	case "nearest":
		pick = s.nearest(passing)
	}
	writeJSON(w, http.StatusOK, pick)
}

// nearest returns the instance with the smallest estimated round trip;
// instances without a coordinate come last, ties broken at random.
func (s *Server) nearest(list []Instance) Instance {
	type cand struct {
		in    Instance
		rtt   int64
		known bool
		tie   uint32
	}
	cands := make([]cand, len(list))
	for i, in := range list {
		rtt, ok := s.agent.RTT(in.Node)
		cands[i] = cand{in: in, rtt: int64(rtt), known: ok, tie: rand.Uint32()}
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.known != b.known {
			return a.known
		}
		if a.rtt != b.rtt {
			return a.rtt < b.rtt
		}
		return a.tie < b.tie
	})
	return cands[0].in
}

func (s *Server) handleMaintenance(w http.ResponseWriter, r *http.Request) {
	var req MaintenanceRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	if req.Enable == nil {
		writeError(w, http.StatusBadRequest, `missing field "enable": want true or false`)
		return
	}
	if err := s.agent.SetMaintenance(*req.Enable, req.Reason); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, MaintenanceResponse{Maintenance: *req.Enable})
}

// flagParam reads a boolean query parameter that may be given bare
// (?passing), or as ?passing=true|false|1|0.
func flagParam(r *http.Request, name string) (bool, error) {
	v, ok := r.URL.Query()[name]
	if !ok {
		return false, nil
	}
	switch v[0] {
	case "", "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, badRequest("invalid %s=%q: want true or false", name, v[0])
}
