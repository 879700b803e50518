package http

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/http/ui"
)

// Server timeouts. There is deliberately no WriteTimeout: the event stream
// is a response that never ends on its own.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 120 * time.Second
	// defaultKeepalive is how often an idle event stream gets a comment line,
	// so proxies and clients can tell a quiet stream from a dead one.
	defaultKeepalive = 15 * time.Second
	// streamWriteStall bounds one write to an event stream; a client that
	// stops reading for this long is cut off.
	streamWriteStall = 30 * time.Second
)

// Server is vigil's local HTTP API. Create it with New, then either call
// Serve with a listener or mount Handler in a server of your own.
type Server struct {
	agent   Agent
	log     zerolog.Logger
	handler http.Handler
	srv     *http.Server

	// keepalive is the event stream's comment interval (tests shorten it).
	keepalive time.Duration

	// rr keeps the round-robin position per service for /v1/pick.
	rr roundRobin
	// members keeps the encoded GET /v1/members bodies of the last member
	// view served (members_cache.go).
	members membersCache

	// tokenSum is the SHA-256 of the API token (WithToken); nil when the
	// API is open.
	tokenSum []byte
	// redact is the API token, replaced in the hook runs GET /v1/hooks
	// shows; empty when the API is open.
	redact string
	// metrics serves GET /metrics (WithMetrics); nil answers 404.
	metrics http.Handler
	// allowedHosts are the names WithAllowedHosts adds to the loopback
	// ones that Host and Origin may carry (guard.go).
	allowedHosts map[string]bool
	// refused rate-limits the log lines of refused browser requests.
	refused refusals
	// maxStreams caps the open event streams (WithMaxStreams); 0 is no
	// cap. streams counts the open ones.
	maxStreams int64
	streams    atomic.Int64

	// done is closed by Shutdown; event streams select on it and end.
	done     chan struct{}
	doneOnce sync.Once
}

// New returns a Server that answers from agent and logs to logger, with
// the options (WithToken, WithMetrics, WithAllowedHosts, WithMaxStreams)
// applied.
func New(agent Agent, logger zerolog.Logger, opts ...Option) *Server {
	s := &Server{
		agent:     agent,
		log:       logger,
		keepalive: defaultKeepalive,
		done:      make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.handler = s.logRequests(s.recoverPanics(s.guardBrowsers(s.authorize(s.routes()))))
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          log.New(warnWriter{logger}, "", 0),
	}
	return s
}

// Handler returns the API's handler, with request logging, panic
// recovery, the browser guard (guard.go) and the token check, for use in a server other than Serve's (tests, for one).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers API requests on ln until Shutdown is called, after which it
// returns nil. Any other return is an error accepting connections.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, ends open event streams, and waits
// until in-flight requests finish or ctx is done. It is safe to call more
// than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.doneOnce.Do(func() { close(s.done) })
	return s.srv.Shutdown(ctx)
}

// routes maps each API path to a method dispatcher, so a known path with the
// wrong method is a JSON 405 with an Allow header, and anything else a JSON
// 404. Every pattern is an exact path (no trailing-slash subtree) except "/"
// and the dashboard's ui.Prefix.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/members", methods{http.MethodGet: s.handleMembers})
	mux.Handle("/v1/self", methods{http.MethodGet: s.handleSelf})
	mux.Handle("/v1/join", methods{http.MethodPost: s.handleJoin})
	mux.Handle("/v1/leave", methods{http.MethodPost: s.handleLeave})
	mux.Handle("/v1/force-leave", methods{http.MethodPost: s.handleForceLeave})
	mux.Handle("/v1/event", methods{http.MethodPost: s.handleEvent})
	mux.Handle("/v1/events", methods{http.MethodGet: s.handleEvents})
	mux.Handle("/v1/events/stream", methods{http.MethodGet: s.handleStream})
	mux.Handle("/v1/hooks", methods{http.MethodGet: s.handleHooks})
	mux.Handle("/healthz", methods{http.MethodGet: s.handleHealth})
	mux.Handle("/v1/checks", methods{http.MethodGet: s.handleChecks})
	mux.Handle("/v1/checks/{id}/{action}", methods{http.MethodPut: s.handleTTL})
	mux.Handle("/v1/health/service/{name}", methods{http.MethodGet: s.handleService})
	mux.Handle("/v1/pick/{name}", methods{http.MethodGet: s.handlePick})
	mux.Handle("/v1/sd/prometheus", methods{http.MethodGet: s.handleSD})
	mux.Handle("/v1/maintenance", methods{http.MethodPut: s.handleMaintenance})
	mux.Handle("/v1/keys", methods{http.MethodGet: s.handleListKeys})
	mux.Handle("/v1/keys/{action}", methods{http.MethodPost: s.handleKeyAction})
	mux.Handle("/metrics", methods{http.MethodGet: s.handleMetrics})
	mux.Handle("/v1/failover", methods{http.MethodGet: s.handleFailover})
	mux.Handle("/v1/failover/release", methods{http.MethodPost: s.handleRelease})
	mux.Handle("/v1/reload", methods{http.MethodPost: s.handleReload})
	mux.Handle("/v1/tags", methods{http.MethodPost: s.handleTags})
	mux.Handle("/v1/rtt", methods{http.MethodGet: s.handleRTT})
	mux.Handle(ui.Prefix, ui.New(ui.Options{TokenRequired: s.tokenSum != nil}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	return mux
}
