package agent

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"

	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/membership"
)

// KeyringFileName is the keyring's file in data_dir: serf's format, a JSON
// list of base64 keys, the primary key first.
const KeyringFileName = "keyring"

// MinHTTPTokenLength is the shortest http_token accepted. A token is a
// password anyone who reaches the API may guess at; 16 random characters
// are out of reach, a word is not.
const MinHTTPTokenLength = 16

// certCheckInterval is how often, at most, the TLS certificate files are
// checked for changes (on a handshake).
const certCheckInterval = 5 * time.Second

// validateSecurity checks encrypt, http_token, the TLS files, that an API
// bound off loopback has a token, and that no other user can write
// data_dir.
func (c *Config) validateSecurity() ConfigErrors {
	var errs ConfigErrors
	add := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Where: c.where(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Encrypt != "" {
		if _, err := membership.DecodeKey(c.Encrypt); err != nil {
			add("encrypt", "%v", err)
		}
	}
	if c.HTTPToken != "" {
		switch {
		case strings.ContainsFunc(c.HTTPToken, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			add("http_token", "must not contain spaces or control characters (it is sent in an HTTP header)")
		case len(c.HTTPToken) < MinHTTPTokenLength:
			add("http_token", "%d characters is too short to resist guessing: use at least %d (vigil keygen prints a good one)", len(c.HTTPToken), MinHTTPTokenLength)
		}
	}
	if host, _, err := splitHostPort(c.HTTP); err == nil && c.HTTPToken == "" && !isLoopbackHost(host) {
		add("http", "%q is not a loopback address, and without http_token anyone who reaches it can make the agent join, leave, fire events, drain the service and change gossip keys: set http_token (and http_tls_cert/http_tls_key off the host), or bind 127.0.0.1", c.HTTP)
	}
	for i, h := range c.HTTPAllowedHosts {
		if msg := allowedHostProblem(h); msg != "" {
			key := "http_allowed_hosts[" + strconv.Itoa(i) + "]"
			where := c.where(key)
			if where == "" {
				where = c.where("http_allowed_hosts")
			}
			errs = append(errs, &ConfigError{Where: where, Key: key, Msg: fmt.Sprintf("%q: %s", h, msg)})
		}
	}
	switch {
	case c.HTTPMaxConnections < 1:
		add("http_max_connections", "%d: must be at least 1", c.HTTPMaxConnections)
	case c.HTTPMaxStreams < 1:
		add("http_max_streams", "%d: must be at least 1", c.HTTPMaxStreams)
	case c.HTTPMaxStreams >= c.HTTPMaxConnections:
		add("http_max_streams", "%d: must be smaller than http_max_connections (%d), so that open streams leave connections for other requests", c.HTTPMaxStreams, c.HTTPMaxConnections)
	}
	if c.DataDir != "" {
		if msg := dataDirProblem(c.DataDir); msg != "" {
			add("data_dir", "%s", msg)
		}
	}
	// A missing half is reported where the other half was set.
	missing := func(key, other string) {
		errs = append(errs, &ConfigError{Where: c.where(other), Key: key, Msg: "missing: " + other + " is set; set both or neither"})
	}
	switch {
	case c.HTTPTLSCert != "" && c.HTTPTLSKey == "":
		missing("http_tls_key", "http_tls_cert")
	case c.HTTPTLSCert == "" && c.HTTPTLSKey != "":
		missing("http_tls_cert", "http_tls_key")
	case c.HTTPTLSCert != "":
		if _, err := tls.LoadX509KeyPair(c.HTTPTLSCert, c.HTTPTLSKey); err != nil {
			add("http_tls_cert", "load certificate %s and key %s: %v", c.HTTPTLSCert, c.HTTPTLSKey, err)
		}
	}
	return errs
}

// allowedHostProblem says what is wrong with an http_allowed_hosts entry,
// or "" when it is a host name or an IP address (IPv6 in brackets or
// not), without a scheme, port, path or wildcard.
func allowedHostProblem(h string) string {
	switch {
	case strings.TrimSpace(h) == "":
		return "empty name"
	case strings.Contains(h, "://") || strings.Contains(h, "/"):
		return "want a host name or address, without a scheme or path"
	case strings.ContainsAny(h, "* \t"):
		return "wildcards and spaces are not supported: list each name"
	}
	if _, _, err := net.SplitHostPort(h); err == nil {
		return "want a host name or address without a port: any port is accepted"
	}
	bare := strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if net.ParseIP(bare) != nil {
		return ""
	}
	if strings.ContainsAny(h, ":[]") {
		return "want a host name or address without a port: any port is accepted"
	}
	return ""
}

// isLoopbackHost reports whether an address host is loopback only:
// localhost or a loopback IP. An empty host (all interfaces) is not.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i]
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// gossipKeyring returns the keyring gossip starts with and the file serf
// keeps it in, or nil for plain-text gossip. With data_dir, a keyring file
// there wins over encrypt: it holds the keys as the last rotation left
// them. Without a file, encrypt starts one.
func (a *Agent) gossipKeyring() (*memberlist.Keyring, string, error) {
	var file string
	if a.cfg.DataDir != "" {
		file = filepath.Join(a.cfg.DataDir, KeyringFileName)
		keys, err := membership.ReadKeyringFile(file)
		switch {
		case err == nil:
			a.logKeyringFile(file, keys)
			kr, err := membership.NewKeyring(keys)
			if err != nil {
				return nil, "", fmt.Errorf("gossip keyring %s: %w", file, err)
			}
			return kr, file, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, "", fmt.Errorf("gossip keyring: %w", err)
		}
	}
	if a.cfg.Encrypt == "" {
		return nil, "", nil
	}
	key, err := membership.DecodeKey(a.cfg.Encrypt)
	if err != nil {
		return nil, "", fmt.Errorf("encrypt: %w", err)
	}
	kr, err := membership.NewKeyring([][]byte{key})
	if err != nil {
		return nil, "", fmt.Errorf("encrypt: %w", err)
	}
	if file != "" {
		if err := membership.WriteKeyringFile(file, [][]byte{key}); err != nil {
			return nil, "", fmt.Errorf("gossip keyring: %w", err)
		}
		a.log.Info().Str("keyring", file).Str("primary_key_id", membership.KeyID(key)).
			Msg("gossip encryption on; keyring saved from encrypt: key changes made with vigil keys are kept there")
	} else {
		a.log.Info().Str("primary_key_id", membership.KeyID(key)).
			Msg("gossip encryption on; without data_dir, key changes made with vigil keys are lost at restart")
	}
	return kr, file, nil
}

// logKeyringFile says that the keyring file is used, and whether encrypt
// is ignored because of it.
func (a *Agent) logKeyringFile(file string, keys [][]byte) {
	ev := a.log.Info()
	msg := "gossip encryption on; keyring loaded from data_dir"
	if a.cfg.Encrypt != "" {
		enc, _ := membership.DecodeKey(a.cfg.Encrypt)
		known := false
		for _, k := range keys {
			known = known || bytes.Equal(k, enc)
		}
		if known {
			msg = "gossip encryption on; keyring loaded from data_dir, which wins over encrypt (the encrypt key is in it)"
		} else {
			ev = a.log.Warn()
			msg = "gossip encryption on; keyring loaded from data_dir, which wins over encrypt: the encrypt key is NOT in it and is ignored (delete the keyring file to start over from encrypt)"
		}
	}
	ev.Str("keyring", file).Int("keys", len(keys)).Str("primary_key_id", membership.KeyID(keys[0])).Msg(msg)
}

// listenHTTP opens the API's listener, capped at http_max_connections,
// serving TLS when configured.
func (a *Agent) listenHTTP() (net.Listener, error) {
	ln, err := net.Listen("tcp", a.cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("http listen %s: %w", a.cfg.HTTP, err)
	}
	if a.cfg.HTTPTLSCert == "" {
		return vigilhttp.LimitListener(ln, a.cfg.HTTPMaxConnections, nil), nil
	}
	cr, err := newCertReloader(a.cfg.HTTPTLSCert, a.cfg.HTTPTLSKey, a.log)
	if err != nil {
		ln.Close()
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cr.get}
	return tls.NewListener(vigilhttp.LimitListener(ln, a.cfg.HTTPMaxConnections, tc), tc), nil
}

// apiAddr is the API's address as clients and hooks take it: HOST:PORT,
// or https://HOST:PORT when the API serves TLS.
func (a *Agent) apiAddr(ln net.Listener) string {
	if a.cfg.HTTPTLSCert != "" {
		return "https://" + ln.Addr().String()
	}
	return ln.Addr().String()
}

// httpOptions are the API server's options from the configuration.
func (a *Agent) httpOptions() []vigilhttp.Option {
	opts := []vigilhttp.Option{
		vigilhttp.WithToken(a.token),
		vigilhttp.WithAllowedHosts(a.cfg.HTTPAllowedHosts...),
		vigilhttp.WithMaxStreams(a.cfg.HTTPMaxStreams),
	}
	if a.metrics != nil {
		opts = append(opts, vigilhttp.WithMetrics(a.metrics.Handler()))
	}
	return opts
}

// hookEnv is the base environment of hooks: the agent's, without
// VIGIL_HTTP_TOKEN, plus the certificate the vigil commands need to call
// this agent back and, with hook_http_token, the token in force (token:
// http_token or the one the agent made). The agent's own
// VIGIL_HTTP_TOKEN (how its token is often set) is dropped unless
// hook_http_token asks for the token: a hook's environment is readable by
// every process it starts.
func hookEnv(cfg *Config, token string) []string {
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VIGIL_HTTP_TOKEN=") {
			env = append(env, kv)
		}
	}
	if token != "" && cfg.HookHTTPToken {
		env = append(env, "VIGIL_HTTP_TOKEN="+token)
	}
	if cfg.HTTPTLSCert != "" {
		if abs, err := filepath.Abs(cfg.HTTPTLSCert); err == nil {
			env = append(env, "VIGIL_HTTP_CA="+abs)
		}
	}
	return env
}

// certReloader serves the API's certificate and reloads it when its files
// change, so a renewed certificate needs no restart. A file that fails to
// load is logged and the previous certificate kept.
type certReloader struct {
	certFile, keyFile string
	log               zerolog.Logger

	mu       sync.Mutex
	cert     *tls.Certificate
	certMod  time.Time
	keyMod   time.Time
	lastStat time.Time
}

func newCertReloader(certFile, keyFile string, log zerolog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	r.certMod, r.keyMod = modTime(certFile), modTime(keyFile)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("http tls: load %s and %s: %w", certFile, keyFile, err)
	}
	r.cert, r.lastStat = &cert, time.Now()
	return r, nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.lastStat) < certCheckInterval {
		return r.cert, nil
	}
	r.lastStat = time.Now()
	cm, km := modTime(r.certFile), modTime(r.keyFile)
	if cm.Equal(r.certMod) && km.Equal(r.keyMod) {
		return r.cert, nil
	}
	r.certMod, r.keyMod = cm, km
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.log.Error().Err(err).Str("cert", r.certFile).Str("key", r.keyFile).
			Msg("http tls: changed certificate files do not load; still serving the previous certificate")
		return r.cert, nil
	}
	r.cert = &cert
	r.log.Info().Str("cert", r.certFile).Msg("http tls: certificate reloaded")
	return r.cert, nil
}

func modTime(path string) time.Time {
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}
