package http

import (
	"errors"
	"net/http"
)

// ForceLeave errors: an Agent's ForceLeave wraps one of them to choose the
// status of the answer.
var (
	// ErrUnknownMember: no member of that name is known (404).
	ErrUnknownMember = errors.New("unknown member")
	// ErrMemberNotFailed: the member is alive, leaving or the agent
	// itself, and only a failed member can be forced out (409).
	ErrMemberNotFailed = errors.New("member is not failed")
)

// ForceLeaveRequest is the body of POST /v1/force-leave.
type ForceLeaveRequest struct {
	// Name is the failed member's node name (required).
	Name string `json:"name"`
	// Prune also erases the member from every member list at once,
	// instead of keeping it as left until serf reaps it (24 h).
	Prune bool `json:"prune"`
}

// ForceLeaveResponse answers POST /v1/force-leave.
type ForceLeaveResponse struct {
	// Name is the member forced out.
	Name string `json:"name"`
	// Pruned is true when it is also being erased from the member lists.
	Pruned bool `json:"pruned"`
}

func (s *Server) handleForceLeave(w http.ResponseWriter, r *http.Request) {
	var req ForceLeaveRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	if req.Name == "" {
		writeError(w, http.StatusBadRequest, `missing field "name": the name of a failed member`)
		return
	}
	err := s.agent.ForceLeave(req.Name, req.Prune)
	switch {
	case errors.Is(err, ErrUnknownMember):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrMemberNotFailed):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		writeJSON(w, http.StatusOK, ForceLeaveResponse{Name: req.Name, Pruned: req.Prune})
	}
}
