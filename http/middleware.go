package http

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// methods dispatches one path's requests by method. A method without a
// handler gets a JSON 405 with an Allow header listing those that have one.
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := m[r.Method]; ok {
		h(w, r)
		return
	}
	allowed := make([]string, 0, len(m))
	for method := range m {
		allowed = append(allowed, method)
	}
	sort.Strings(allowed)
	allow := strings.Join(allowed, ", ")
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed,
		fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
}

// statusRecorder remembers the status a handler sent, for the request log
// and for the panic handler, which may only write a 500 when nothing has
// been written yet. Unwrap lets http.ResponseController reach the
// connection (Flush, SetWriteDeadline) through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

// FlushError flushes the response, reporting failure; it is what
// http.ResponseController.Flush calls.
func (r *statusRecorder) FlushError() error {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return http.NewResponseController(r.ResponseWriter).Flush()
}

// Flush implements http.Flusher for callers that type-assert for it.
func (r *statusRecorder) Flush() { _ = r.FlushError() }

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// wrote reports whether the response's header has gone out.
func (r *statusRecorder) wrote() bool { return r.status != 0 }

// code is the status sent, or the 200 net/http sends for a handler that
// wrote nothing.
func (r *statusRecorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

func recorderFor(w http.ResponseWriter) *statusRecorder {
	if rec, ok := w.(*statusRecorder); ok {
		return rec
	}
	return &statusRecorder{ResponseWriter: w}
}

// logRequests logs every request at debug level once it is answered.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := recorderFor(w)
		defer func() {
			s.log.Debug().
				Str("method", r.Method).
				Str("path", r.URL.Path).
				Int("status", rec.code()).
				Float64("duration_ms", float64(time.Since(start).Microseconds())/1000).
				Msg("http request")
		}()
		next.ServeHTTP(rec, r)
	})
}

// recoverPanics turns a handler's panic into a logged JSON 500. When the
// response has already started it cannot be replaced, so the connection is
// aborted instead.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recorderFor(w)
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error().
				Str("method", r.Method).
				Str("path", r.URL.Path).
				Str("panic", fmt.Sprint(v)).
				Str("stack", string(debug.Stack())).
				Msg("http handler panicked")
			if rec.wrote() {
				panic(http.ErrAbortHandler)
			}
			writeError(rec, http.StatusInternalServerError, "internal error: the request handler panicked (see the agent log)")
		}()
		next.ServeHTTP(rec, r)
	})
}

// warnWriter sends net/http's own error log (such as failed TLS handshakes
// or accept errors) to the agent's logger at warn level.
type warnWriter struct{ log zerolog.Logger }

func (w warnWriter) Write(p []byte) (int, error) {
	w.log.Warn().Str("component", "http").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
