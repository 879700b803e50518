package http

import "net/http"

// ReleaseResponse answers POST /v1/failover/release.
type ReleaseResponse struct {
	// Released is true when the brake was engaged and is now lifted.
	Released bool `json:"released"`
}

func (s *Server) handleFailover(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.agent.FailoverStatus())
}

func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, ReleaseResponse{Released: s.agent.ReleaseFailover()})
}

func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	res, err := s.agent.Reload()
	if err != nil {
		writeError(w, http.StatusBadRequest, "reload: "+err.Error())
		return
	}
	// Lists are [] when empty, never null.
	for _, l := range []*[]string{&res.HooksAdded, &res.HooksChanged, &res.HooksRemoved, &res.NeedsRestart} {
		if *l == nil {
			*l = []string{}
		}
	}
	writeJSON(w, http.StatusOK, res)
}
