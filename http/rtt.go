package http

import "net/http"

// RTTEstimate is one entry of GET /v1/rtt: the round trip from this agent
// to a member, estimated from serf's network coordinates.
type RTTEstimate struct {
	// Node is the member's name.
	Node string `json:"node"`
	// RTTMS is the estimated round trip in milliseconds, to the
	// microsecond.
	RTTMS float64 `json:"rtt_ms"`
}

// handleRTT answers GET /v1/rtt: the estimated round trip to every member
// whose coordinate this agent knows (this agent's own included, near 0),
// sorted by name. A member without a coordinate yet (one just joined, or
// one this agent never exchanged a probe with) is left out.
func (s *Server) handleRTT(w http.ResponseWriter, r *http.Request) {
	out := make([]RTTEstimate, 0)
	for _, m := range s.agent.Members() {
		d, ok := s.agent.RTT(m.Name)
		if !ok {
			continue
		}
		out = append(out, RTTEstimate{Node: m.Name, RTTMS: float64(d.Microseconds()) / 1000})
	}
	writeJSON(w, http.StatusOK, out)
}
