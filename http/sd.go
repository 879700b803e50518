package http

import (
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/vigil-agent/vigil/events"
)

// TargetGroup is one entry of GET /v1/sd/prometheus: Prometheus'
// http_sd_configs format, one group per instance.
type TargetGroup struct {
	// Targets holds the instance's ADDR:PORT ([ADDR]:PORT for IPv6).
	Targets []string `json:"targets"`
	// Labels are the instance's __meta_vigil_* labels.
	Labels map[string]string `json:"labels"`
}

// The labels of a target group; tags add SDTagLabelPrefix + the tag's
// key, sanitized.
const (
	SDServiceLabel        = "__meta_vigil_service"
	SDNodeLabel           = "__meta_vigil_node"
	SDServiceAddressLabel = "__meta_vigil_service_address"
	SDServicePortLabel    = "__meta_vigil_service_port"
	SDHealthLabel         = "__meta_vigil_health"
	SDStatusLabel         = "__meta_vigil_status"
	SDTagLabelPrefix      = "__meta_vigil_tag_"
)

// handleSD answers GET /v1/sd/prometheus: the instances of every service
// (?service=NAME: of that one), passing ones only unless ?passing=false,
// as Prometheus' HTTP service discovery wants them.
func (s *Server) handleSD(w http.ResponseWriter, r *http.Request) {
	passingOnly := true
	if _, ok := r.URL.Query()["passing"]; ok {
		var err error
		if passingOnly, err = flagParam(r, "passing"); err != nil {
			writeAPIError(w, err)
			return
		}
	}
	var services []string
	if name := r.URL.Query().Get("service"); name != "" {
		services = []string{name}
	} else {
		seen := map[string]bool{}
		for _, m := range s.agent.Members() {
			if name := m.Tags[events.ServiceTag]; name != "" && !seen[name] {
				seen[name] = true
				services = append(services, name)
			}
		}
		sort.Strings(services)
	}
	groups := make([]TargetGroup, 0)
	for _, name := range services {
		for _, in := range s.agent.Instances(name) {
			if passingOnly && !isPassing(in) {
				continue
			}
			if g, ok := targetGroup(name, in); ok {
				groups = append(groups, g)
			}
		}
	}
	writeJSON(w, http.StatusOK, groups)
}

// targetGroup returns an instance's target group; false for an instance
// without a port or an address.
func targetGroup(service string, in Instance) (TargetGroup, bool) {
	if in.Addr == "" || in.Port < 1 || in.Port > 65535 {
		return TargetGroup{}, false
	}
	port := strconv.Itoa(in.Port)
	labels := map[string]string{
		SDServiceLabel:        service,
		SDNodeLabel:           in.Node,
		SDServiceAddressLabel: in.Addr,
		SDServicePortLabel:    port,
		SDHealthLabel:         string(in.Health),
		SDStatusLabel:         string(in.Status),
	}
	// Two keys that sanitize alike (a.b, a_b): the one that sorts first
	// keeps the label, so the answer is the same every time.
	keys := make([]string, 0, len(in.Tags))
	for k := range in.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := SDTagLabelPrefix + SanitizeLabelName(k)
		if _, taken := labels[name]; !taken {
			labels[name] = in.Tags[k]
		}
	}
	return TargetGroup{Targets: []string{net.JoinHostPort(in.Addr, port)}, Labels: labels}, true
}

// SanitizeLabelName makes s a valid part of a Prometheus label name: every
// byte other than an ASCII letter, digit or '_' becomes '_' (as
// Prometheus' own service discoveries do with Consul's metadata keys).
func SanitizeLabelName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
