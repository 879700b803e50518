package agent

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// shutdowner is a server the agent runs beside its API (DNS, the Consul
// API).
type shutdowner interface {
	Shutdown(ctx context.Context) error
}

// served is one such server while it runs: set once it listens, read by
// its address getter, shut down when the agent stops.
type served struct {
	mu   sync.Mutex
	srv  shutdowner // nil while it is off
	addr string     // where it answers, once it does
}

// set records the server and the address it listens on.
func (s *served) set(srv shutdowner, addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv, s.addr = srv, addr
}

// Addr returns the address the server answers on ("" while it does not).
func (s *served) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// stop shuts the server down, if one runs, within 2 s (what is still
// going on then, a blocking query, is cut), and logs a failure as what.
func (s *served) stop(log zerolog.Logger, what string) {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn().Err(err).Msg(what + " shutdown")
	}
}
