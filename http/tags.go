package http

import (
	"errors"
	"net/http"
)

// TagChanger is implemented by agents whose member tags can change while
// they run (POST /v1/tags, vigil tags set and unset).
type TagChanger interface {
	// ChangeTags sets the tags of set and removes those of unset on this
	// agent's member, gossips them at once and keeps them across a
	// restart; it returns the member's tags after the change, vigil's own
	// (service, health, boot...) left out. Errors that wrap ErrTagRequest
	// are the request's fault (a reserved or malformed tag): 400.
	ChangeTags(set map[string]string, unset []string) (map[string]string, error)
}

// ErrTagRequest marks TagChanger errors that the request caused.
var ErrTagRequest = errors.New("invalid tag request")

// TagsRequest is the body of POST /v1/tags.
type TagsRequest struct {
	// Set maps tag keys to their new values.
	Set map[string]string `json:"set"`
	// Unset lists the tag keys to remove.
	Unset []string `json:"unset"`
}

// TagsResponse answers POST /v1/tags.
type TagsResponse struct {
	// Tags are this agent's tags after the change (without vigil's own).
	Tags map[string]string `json:"tags"`
}

func (s *Server) handleTags(w http.ResponseWriter, r *http.Request) {
	tc, ok := s.agent.(TagChanger)
	if !ok {
		writeError(w, http.StatusNotImplemented, "this agent cannot change its tags while it runs")
		return
	}
	var req TagsRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	if len(req.Set) == 0 && len(req.Unset) == 0 {
		writeError(w, http.StatusBadRequest, `want "set" (an object of tags) or "unset" (a list of tag keys)`)
		return
	}
	tags, err := tc.ChangeTags(req.Set, req.Unset)
	switch {
	case errors.Is(err, ErrTagRequest):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "tags: "+err.Error())
		return
	}
	if tags == nil {
		tags = map[string]string{}
	}
	writeJSON(w, http.StatusOK, TagsResponse{Tags: tags})
}
