package http

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/vigil-agent/vigil/events"
)

// Option configures a Server at New.
type Option func(*Server)

// WithToken makes every request that can change something (any method but
// GET, HEAD and OPTIONS), every request to the gossip keyring endpoints,
// and GET /v1/hooks (hook output may hold secrets) carry "Authorization:
// Bearer token"; others are answered 401. An empty token leaves the API
// open, as it is without the option.
//
// The token is also kept to redact it from the hook runs that GET
// /v1/hooks shows: a hook that prints it (one given it by the agent's
// hook_http_token) does not show it in the answer, nor in a copy of it.
func WithToken(token string) Option {
	return func(s *Server) {
		s.redact = token
		if token == "" {
			s.tokenSum = nil
			return
		}
		sum := sha256.Sum256([]byte(token))
		s.tokenSum = sum[:]
	}
}

// Redacted replaces the API token in hook output and errors
// (events.Redacted).
const Redacted = events.Redacted

// WithMetrics serves h (a Prometheus exposition handler) on GET /metrics.
// Without it, /metrics is a 404.
func WithMetrics(h http.Handler) Option {
	return func(s *Server) { s.metrics = h }
}

// needsToken reports whether a request must carry the token: everything
// that is not a read; every request to the keyring endpoints, since GET
// /v1/keys tells which keys the cluster uses (by fingerprint); and GET
// /v1/hooks, whose hook output and errors may hold whatever a hook prints.
func needsToken(r *http.Request) bool {
	if r.URL.Path == "/v1/keys" || strings.HasPrefix(r.URL.Path, "/v1/keys/") || r.URL.Path == "/v1/hooks" {
		return true
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// authorize enforces the token (see WithToken). Tokens are compared by
// their SHA-256 sums in constant time, so neither the token's bytes nor its
// length leak through timing.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.tokenSum == nil || !needsToken(r) {
			next.ServeHTTP(w, r)
			return
		}
		given, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			writeError(w, http.StatusUnauthorized,
				"missing token: this agent requires \"Authorization: Bearer TOKEN\" (its http_token, or the token it made: data_dir/http-token) on "+r.Method+" "+r.URL.Path+"; the vigil commands of the agent's user find it, others send -http-token or $VIGIL_HTTP_TOKEN")
			return
		}
		sum := sha256.Sum256([]byte(given))
		if subtle.ConstantTimeCompare(sum[:], s.tokenSum) != 1 {
			s.log.Warn().Str("component", "http").Str("method", r.Method).Str("path", r.URL.Path).
				Str("remote", r.RemoteAddr).Msg("request with a wrong token refused")
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken returns the token of an "Authorization: Bearer TOKEN" header
// value; the scheme is case-insensitive.
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
