package http

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Option configures a Server at New.
type Option func(*Server)

// WithToken makes every request that can change something (any method but
// GET, HEAD and OPTIONS), and every request to the gossip keyring
// endpoints, carry "Authorization: Bearer token"; others are answered 401.
// An empty token leaves the API open, as it is without the option.
func WithToken(token string) Option {
	return func(s *Server) {
		if token == "" {
			s.tokenSum = nil
			return
		}
		sum := sha256.Sum256([]byte(token))
		s.tokenSum = sum[:]
	}
}

// WithMetrics serves h (a Prometheus exposition handler) on GET /metrics.
// Without it, /metrics is a 404.
func WithMetrics(h http.Handler) Option {
	return func(s *Server) { s.metrics = h }
}

// needsToken reports whether a request must carry the token: everything
// that is not a read, and every request to the keyring endpoints, since
// GET /v1/keys tells which keys the cluster uses (by fingerprint).
func needsToken(r *http.Request) bool {
	if r.URL.Path == "/v1/keys" || strings.HasPrefix(r.URL.Path, "/v1/keys/") {
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
				"missing token: this agent requires \"Authorization: Bearer TOKEN\" (http_token) on "+r.Method+" "+r.URL.Path+"; the vigil commands send -http-token or $VIGIL_HTTP_TOKEN")
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
