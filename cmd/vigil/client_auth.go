package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// httpTokenFlag is the client's -http-token: the agent's http_token, sent
// as "Authorization: Bearer TOKEN". The agent reads the same variable, so
// one VIGIL_HTTP_TOKEN serves both on a host.
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
