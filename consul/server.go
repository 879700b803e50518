// Package consul answers the reads of Consul's HTTP API that service
// discovery clients make (consul-template, Prometheus' consul_sd_configs,
// Consul's Go client): the catalog's services, a service's instances with
// their health, this agent, the leader; with Consul's blocking queries.
// Writes are refused. It talks to the agent only through the Source
// interface. See docs/consul.md.
package consul

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
)

// DefaultDatacenter is the datacenter name the API reports, Consul's own
// default, so clients configured for "dc1" keep working.
const DefaultDatacenter = "dc1"

// Instance is one member offering a service, as the Consul API shows it.
type Instance struct {
	// Service is the service's name.
	Service string
	// Node is the member's name.
	Node string
	// NodeAddr is the member's own (gossip) IP address.
	NodeAddr string
	// NodeMeta are the member's own tags (vigil's service tags excepted).
	NodeMeta map[string]string
	// Addr is where the service answers.
	Addr string
	// Port is the service's port.
	Port int
	// Tags are the service's tags (service.tags).
	Tags map[string]string
	// Health is passing, warning, critical, maintenance or left.
	Health events.HealthStatus
	// Status is the member's status: alive, leaving, left or failed.
	Status events.MemberStatus
}

// Self is the local member, for GET /v1/agent/self and the leader.
type Self struct {
	// Name is the member's name.
	Name string
	// Addr and Port are its gossip address.
	Addr string
	Port int
	// Tags are its serf tags.
	Tags map[string]string
	// Version is vigil's version.
	Version string
}

// Source is what the Consul API needs from the running agent.
type Source interface {
	// Instances returns every member that offers a service, in any
	// state.
	Instances() []Instance
	// Self returns the local member.
	Self() Self
}

// Config sets what the server answers.
type Config struct {
	// Datacenter is the datacenter name reported and accepted in ?dc=
	// (DefaultDatacenter when empty).
	Datacenter string
	// AllowedHosts are the names, besides loopback and the address a
	// connection came in on, that a request's Host may carry.
	AllowedHosts []string
	// PollInterval is how often the cluster view is compared while a
	// blocking query waits (200ms when 0).
	PollInterval time.Duration
}

// Blocking query bounds, Consul's: a wait of 5 minutes unless asked,
// 10 at most, plus up to 1/16 of it at random so that clients spread.
const (
	defaultWait = 5 * time.Minute
	maxWait     = 10 * time.Minute
)

// Server answers Consul's read API. Create it with New; serve Handler, or
// call Serve with a listener.
type Server struct {
	src     Source
	log     zerolog.Logger
	dc      string
	allowed map[string]bool
	handler http.Handler
	srv     *http.Server

	view view // the cluster view's index (blocking.go)

	lastRefusal atomic.Int64 // unix nanoseconds of the last refused Host logged

	done     chan struct{}
	doneOnce sync.Once
}

// New returns a Server answering from src.
func New(src Source, cfg Config, logger zerolog.Logger) *Server {
	if cfg.Datacenter == "" {
		cfg.Datacenter = DefaultDatacenter
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	s := &Server{src: src, log: logger, dc: cfg.Datacenter, allowed: map[string]bool{}, done: make(chan struct{})}
	for _, h := range cfg.AllowedHosts {
		s.allowed[normalizeHost(h)] = true
	}
	s.view.init(src, cfg.PollInterval, s.done)
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/catalog/services", s.read(s.catalogServices))
	mux.HandleFunc("/v1/catalog/service/{name}", s.read(s.catalogService))
	mux.HandleFunc("/v1/health/service/{name}", s.read(s.healthService))
	mux.HandleFunc("/v1/agent/self", s.read(s.agentSelf))
	mux.HandleFunc("/v1/status/leader", s.read(s.statusLeader))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.refuseWrite(w, r)
			return
		}
		writeError(w, http.StatusNotFound, "vigil answers these of Consul's endpoints: GET /v1/catalog/services, /v1/catalog/service/NAME, /v1/health/service/NAME, /v1/agent/self, /v1/status/leader; "+r.URL.Path+" is not one (docs/consul.md)")
	})
	s.handler = s.guardHost(s.recoverPanics(mux))
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          log.New(warnWriter{logger}, "", 0),
	}
	return s
}

// Handler returns the server's handler, with the Host check.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers on ln until Shutdown, after which it returns nil.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("consul http: %w", err)
	}
	return nil
}

// Shutdown ends blocking queries, stops accepting connections and waits
// for the requests in flight or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.doneOnce.Do(func() { close(s.done) })
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("consul http: shutdown: %w", err)
	}
	return nil
}

// read wraps a read endpoint: GET (and HEAD) only, writes refused; ?dc=
// must name this datacenter; filter expressions are refused rather than
// ignored.
func (s *Server) read(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.refuseWrite(w, r)
			return
		}
		q := r.URL.Query()
		if dc := q.Get("dc"); dc != "" && dc != s.dc {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("No path to datacenter %q: this vigil agent answers for %q only (consul_datacenter)", dc, s.dc))
			return
		}
		if _, ok := q["filter"]; ok {
			writeError(w, http.StatusBadRequest, "filter expressions are not supported by vigil's Consul API: use ?tag=, ?node-meta= or ?passing (docs/consul.md)")
			return
		}
		h(w, r)
	}
}

// refuseWrite answers a write with 405 and where to go instead.
func (s *Server) refuseWrite(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf(
		"%s %s: vigil's Consul-compatible API is read-only; register services and checks in the agent's configuration (service, checks), and use vigil's own API (the agent's http address, docs/http-api.md) for maintenance, TTL checks and events", r.Method, r.URL.Path))
}

// errorResponse is the body of an error, as vigil's own API sends it.
type errorResponse struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorResponse{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(errorResponse{Error: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// recoverPanics answers a panic with a 500 and logs it, so one bad
// request does not take the listener down.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error().Str("component", "consul").Str("path", r.URL.Path).Interface("panic", v).Msg("panic in the Consul API")
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// warnWriter logs net/http's own error lines at warn.
type warnWriter struct{ log zerolog.Logger }

func (w warnWriter) Write(p []byte) (int, error) {
	w.log.Warn().Str("component", "consul").Msg(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
