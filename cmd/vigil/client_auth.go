package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	"github.com/vigil-agent/vigil/agent"
)

// httpTokenFlag is the client's -http-token: the agent's http_token, sent
// as "Authorization: Bearer TOKEN". The agent reads the same variable, so
// one VIGIL_HTTP_TOKEN serves both on a host. Without it, the commands
// use the token file of an agent that made its own token (findToken).
func httpTokenFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "http-token",
		Usage:   "`TOKEN` the agent requires on changes (its http_token); prefer the env var: ps shows flags",
		EnvVars: []string{"VIGIL_HTTP_TOKEN"},
	}
}

// httpCAFlag is the client's -http-ca: a PEM file of certificates trusted,
// besides the system's, for an https:// agent address.
func httpCAFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "http-ca",
		Usage:   "PEM `FILE` of CA certificates (or the agent's own self-signed certificate) to trust for -http-addr https://...",
		EnvVars: []string{"VIGIL_HTTP_CA"},
	}
}

// addAuthFlags gives every command (and subcommand) that calls the agent,
// that is every command with -http-addr, the -http-token and -http-ca
// flags.
func addAuthFlags(cmds []*cli.Command) {
	for _, c := range cmds {
		for _, f := range c.Flags {
			if hasName(f, "http-addr") {
				c.Flags = append(c.Flags, httpTokenFlag(), httpCAFlag())
				break
			}
		}
		addAuthFlags(c.Subcommands)
	}
}

func hasName(f cli.Flag, name string) bool {
	for _, n := range f.Names() {
		if n == name {
			return true
		}
	}
	return false
}

// tokenTransport adds the bearer token to every request.
type tokenTransport struct {
	base  http.RoundTripper
	token string
}

// RoundTrip implements http.RoundTripper.
func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.base.RoundTrip(r)
}

// clientTLSConfig trusts the system's CAs plus those in caFile, if given.
func clientTLSConfig(caFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, usageError("-http-ca: %v", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usageError("-http-ca %s: no PEM certificate in it", caFile)
	}
	tc.RootCAs = pool
	return tc, nil
}

// tlsHint explains the usual TLS mistakes after a failed request.
func tlsHint(err error) string {
	var unknown x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recErr tls.RecordHeaderError
	switch {
	case errors.As(err, &unknown):
		return " (trust the agent's certificate with -http-ca FILE or $VIGIL_HTTP_CA)"
	case errors.As(err, &hostErr):
		return fmt.Sprintf(" (the certificate is for %s: use that name or address in -http-addr)", strings.Join(certNames(hostErr.Certificate), ", "))
	case errors.As(err, &recErr):
		return " (the agent serves plain HTTP: drop https:// from -http-addr)"
	}
	return ""
}

func certNames(c *x509.Certificate) []string {
	if c == nil {
		return nil
	}
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// foundToken is where a client command's token came from.
type foundToken struct {
	token string
	// file is the runtime token file it was read from; "" for
	// -http-token or $VIGIL_HTTP_TOKEN, or when none was found.
	file string
	// unreadable is a token file for the agent's port that exists but
	// this user can't read (the agent runs as another user).
	unreadable string
}

// findToken returns the token to send to the agent at addr (host:port):
// -http-token or $VIGIL_HTTP_TOKEN when given; otherwise, for an agent on
// a loopback address only (a token is never sent to another host it was
// not given for), the token file http-token-PORT that an agent without
// http_token writes in the first of agent.RuntimeDirs that has it. A
// directory that others can write (where anyone could plant a token file)
// is skipped.
func findToken(flagToken, addr string) foundToken {
	if t := strings.TrimSpace(flagToken); t != "" {
		return foundToken{token: t}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !isLoopback(host) {
		return foundToken{}
	}
	var found foundToken
	for _, dir := range agent.RuntimeDirs() {
		if st, err := os.Lstat(dir); err != nil || !st.IsDir() || st.Mode().Perm()&0o022 != 0 {
			continue
		}
		path := agent.RuntimeTokenPath(dir, port)
		b, err := os.ReadFile(path)
		if err == nil {
			if t := strings.TrimSpace(string(b)); t != "" {
				return foundToken{token: t, file: path}
			}
			continue
		}
		if errors.Is(err, fs.ErrPermission) && found.unreadable == "" {
			found.unreadable = path
		}
	}
	return found
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hint explains a 401: what the command sent, and how to pass the
// agent's token.
func (t foundToken) hint() string {
	const how = "pass -http-token TOKEN or set VIGIL_HTTP_TOKEN (the agent's http_token, or the token it keeps in data_dir/http-token)"
	switch {
	case t.file != "":
		return fmt.Sprintf("\nvigil: the token in %s was refused (another agent's on this port?): %s", t.file, how)
	case t.token != "":
		return "\nvigil: the token given was refused: check -http-token or $VIGIL_HTTP_TOKEN"
	case t.unreadable != "":
		return fmt.Sprintf("\nvigil: the agent's token is in %s, which your user can't read: run vigil as the agent's user (or root), or %s", t.unreadable, how)
	}
	return "\nvigil: this agent requires a token and vigil found none for it (in " + strings.Join(agent.RuntimeDirs(), ", ") + "): " + how
}
