package http

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/vigil-agent/vigil/events"
)

// MemberStatuses are the values GET /v1/members?status= accepts: serf's
// member statuses.
var MemberStatuses = []events.MemberStatus{events.StatusAlive, events.StatusLeaving, events.StatusLeft, events.StatusFailed}

// JoinRequest is the body of POST /v1/join.
type JoinRequest struct {
	// Addrs are the host:port gossip addresses of members to join through.
	Addrs []string `json:"addrs"`
}

// JoinResponse answers POST /v1/join.
type JoinResponse struct {
	// Joined is how many of the addresses were reached.
	Joined int `json:"joined"`
}

// LeaveResponse answers POST /v1/leave.
type LeaveResponse struct {
	// Leaving is true once the graceful leave has started.
	Leaving bool `json:"leaving"`
}

// EventRequest is the body of POST /v1/event.
type EventRequest struct {
	// Name is the user event's name (required).
	Name string `json:"name"`
	// Payload is the event's opaque payload.
	Payload string `json:"payload"`
}

// EventResponse answers POST /v1/event.
type EventResponse struct {
	// Fired is true once the event was handed to the cluster.
	Fired bool `json:"fired"`
}

// HealthResponse answers GET /healthz.
type HealthResponse struct {
	// Status is "ok".
	Status string `json:"status"`
}

// normalize returns m with nil tags as an empty map, so JSON shows {}.
func normalize(m events.Member) events.Member {
	if m.Tags == nil {
		m.Tags = map[string]string{}
	}
	return m
}

// handleMembers answers GET /v1/members[?status=S] from s.members:
// the body is encoded again only when the agent's member list changed
// (members_cache.go).
func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	filter, ok := membersFilter(status)
	if !ok {
		writeError(w, http.StatusBadRequest,
			fmt.Sprintf("invalid status %q: want one of alive, leaving, left, failed", status))
		return
	}
	body, err := s.members.body(s.agent.Members(), status, filter)
	if err != nil {
		// Only a bug can get here: members are plain strings and maps.
		writeError(w, http.StatusInternalServerError, "members: "+err.Error())
		return
	}
	writeJSONBody(w, http.StatusOK, body)
}

func (s *Server) handleSelf(w http.ResponseWriter, r *http.Request) {
	self := s.agent.Self()
	self.Member = normalize(self.Member)
	writeJSON(w, http.StatusOK, self)
}

func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	if len(req.Addrs) == 0 {
		writeError(w, http.StatusBadRequest, `missing field "addrs": want a non-empty list of host:port addresses`)
		return
	}
	for _, addr := range req.Addrs {
		if err := checkHostPort(addr); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	n, err := s.agent.Join(req.Addrs)
	if err != nil {
		writeError(w, http.StatusBadGateway, "join: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, JoinResponse{Joined: n})
}

// checkHostPort reports an address that is not host:port with a numeric
// port, naming it.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: want host:port: %v", addr, unwrapAddrErr(err))
	}
	if host == "" {
		return fmt.Errorf("address %q: missing host", addr)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("address %q: port %q is not a number from 1 to 65535", addr, port)
	}
	return nil
}

// unwrapAddrErr drops net.AddrError's repetition of the address.
func unwrapAddrErr(err error) string {
	if ae, ok := err.(*net.AddrError); ok {
		return ae.Err
	}
	return err.Error()
}

func (s *Server) handleLeave(w http.ResponseWriter, r *http.Request) {
	if err := s.agent.Leave(); err != nil {
		writeError(w, http.StatusInternalServerError, "leave: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, LeaveResponse{Leaving: true})
	// Push the answer out now: the agent is on its way down.
	_ = http.NewResponseController(w).Flush()
}

func (s *Server) handleEvent(w http.ResponseWriter, r *http.Request) {
	var req EventRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	if req.Name == "" {
		writeError(w, http.StatusBadRequest, `missing field "name": a user event needs a name`)
		return
	}
	if err := s.agent.UserEvent(req.Name, []byte(req.Payload)); err != nil {
		if errors.Is(err, ErrRateLimited) {
			writeRateLimited(w, err)
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, EventResponse{Fired: true})
}

// parseSince reads an event id from a query value or Last-Event-ID header;
// empty means 0.
func parseSince(what, v string) (uint64, error) {
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, badRequest("invalid %s %q: want an event id (a non-negative integer)", what, v)
	}
	return id, nil
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	since, err := parseSince("since", r.URL.Query().Get("since"))
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.agent.Events().Since(since))
}

func (s *Server) handleHooks(w http.ResponseWriter, r *http.Request) {
	runs := events.RedactRuns(s.agent.HookRuns(), s.redact)
	if runs == nil {
		runs = []events.Run{}
	}
	writeJSON(w, http.StatusOK, runs)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, HealthResponse{Status: "ok"})
}
