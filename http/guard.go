package http

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// WithAllowedHosts adds names (or addresses) that the Host header, and the
// host of an Origin header, may carry besides the loopback names and
// addresses and the address a connection arrived on. Use it when clients
// reach the API by a name, such as a DNS name for an agent that listens
// off loopback. Names are compared case-insensitively, without a port.
func WithAllowedHosts(hosts ...string) Option {
	return func(s *Server) {
		for _, h := range hosts {
			if h = normalizeHost(h); h != "" {
				if s.allowedHosts == nil {
					s.allowedHosts = map[string]bool{}
				}
				s.allowedHosts[h] = true
			}
		}
	}
}

// normalizeHost lower-cases a host name and strips the brackets of an
// IPv6 literal.
func normalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// guardBrowsers refuses what a web page could make a browser send, before
// the token is even looked at:
//
//   - a Host that is not a loopback name or address, the address the
//     connection arrived on, or an allowed host (WithAllowedHosts): 403.
//     A page on a name the attacker controls that resolves to 127.0.0.1
//     (DNS rebinding) sends its own name as Host, so it can read nothing.
//   - an Origin header that is not this agent's own origin: 403. Browsers
//     send Origin on every cross-site POST, including the "simple" ones
//     (text/plain, no preflight), and on cross-site fetch and EventSource.
//   - a request with a body that changes something (any method but GET,
//     HEAD and OPTIONS) and whose Content-Type is not application/json:
//     415. A page can send a JSON-looking body without a preflight only as
//     text/plain, form data or multipart.
func (s *Server) guardBrowsers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A refused request's body is never read: close the connection
		// rather than wait for the rest of it.
		refuse := func(status int, why, msg string) {
			s.refused.note(s, r, why)
			w.Header().Set("Connection", "close")
			writeError(w, status, msg)
		}
		local := localAddr(r)
		if !s.hostAllowed(hostOnly(r.Host), local) {
			refuse(http.StatusForbidden, "host", fmt.Sprintf(
				"Host %q is not this agent's: the API answers only a loopback name or address, the address it listens on, or a name in http_allowed_hosts (a guard against DNS rebinding)", r.Host))
			return
		}
		if origins, ok := r.Header["Origin"]; ok {
			for _, o := range origins {
				if !s.originAllowed(o, r, local) {
					refuse(http.StatusForbidden, "origin", fmt.Sprintf(
						"cross-origin request refused: Origin %q is not this agent's own; browsers may call the API only from the agent's own pages (its dashboard, /ui/), not from other sites", o))
					return
				}
			}
		}
		if changes(r) && hasBody(r) {
			ct := r.Header.Get("Content-Type")
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				refuse(http.StatusUnsupportedMediaType, "content-type", fmt.Sprintf(
					"Content-Type %q refused: a request body must be JSON sent as \"Content-Type: application/json\"", ct))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// changes reports whether a request's method may change something.
func changes(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// hasBody reports whether a request carries a body: a positive
// Content-Length, or a body of unknown length (chunked).
func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || (r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody)
}

// localAddr is the address the request's connection arrived on; nil when
// the handler is not served by a net/http server (tests with a recorder).
func localAddr(r *http.Request) *net.TCPAddr {
	a, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if a == nil {
		return nil
	}
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp
	}
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return nil
	}
	p, _ := strconv.Atoi(port)
	return &net.TCPAddr{IP: net.ParseIP(host), Port: p}
}

// hostOnly returns the host of a HOST[:PORT] value, lower-cased, without
// the brackets of an IPv6 literal.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return normalizeHost(h)
	}
	return normalizeHost(hostport)
}

// hostAllowed reports whether host names this agent: localhost, a
// loopback address, the address the connection arrived on, or an allowed
// host. An empty host (an HTTP/1.0 request without Host) is not allowed.
func (s *Server) hostAllowed(host string, local *net.TCPAddr) bool {
	if host == "" {
		return false
	}
	if host == "localhost" || s.allowedHosts[host] {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i] // an IPv6 zone
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	return ip.IsLoopback() || (local != nil && ip.Equal(local.IP))
}

// originAllowed reports whether an Origin header value is this agent's own
// origin: the scheme the request came in with, an allowed host (see
// hostAllowed) and the port the connection arrived on (the Host header's
// port when that is unknown). "null" and anything unparsable are foreign.
func (s *Server) originAllowed(origin string, r *http.Request, local *net.TCPAddr) bool {
	u, err := url.Parse(strings.TrimSpace(origin))
	if err != nil || u.Host == "" || u.Path != "" || u.User != nil {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if !strings.EqualFold(u.Scheme, scheme) {
		return false
	}
	if !s.hostAllowed(normalizeHost(u.Hostname()), local) {
		return false
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	var own string
	switch {
	case local != nil:
		own = strconv.Itoa(local.Port)
	default:
		if _, p, err := net.SplitHostPort(r.Host); err == nil {
			own = p
		} else {
			own = map[string]string{"http": "80", "https": "443"}[scheme]
		}
	}
	return port == own
}

// refusalLogInterval is how often, at most, refused browser-like requests
// are logged; the others in between are counted in the next line.
const refusalLogInterval = 10 * time.Second

// refusals logs refused requests at a bounded rate, so that a page firing
// requests in a loop can't flood the log.
type refusals struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// note logs one refusal, or counts it when one was logged recently.
func (rf *refusals) note(s *Server, r *http.Request, why string) {
	rf.mu.Lock()
	now := time.Now()
	if now.Sub(rf.last) < refusalLogInterval {
		rf.suppressed++
		rf.mu.Unlock()
		return
	}
	suppressed := rf.suppressed
	rf.last, rf.suppressed = now, 0
	rf.mu.Unlock()
	s.log.Warn().Str("component", "http").Str("refused", why).Str("method", r.Method).
		Str("path", r.URL.Path).Str("host", r.Host).Str("origin", r.Header.Get("Origin")).
		Str("content_type", r.Header.Get("Content-Type")).Str("remote", r.RemoteAddr).
		Int("refused_since_last_line", suppressed).
		Msg("request refused: it looks like a browser's request from another site (see docs/security.md)")
}
