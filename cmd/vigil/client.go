package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	vigilhttp "github.com/vigil-agent/vigil/http"
)

// defaultHTTPAddr is where client commands look for the agent's API.
const defaultHTTPAddr = "127.0.0.1:7947"

// requestTimeout bounds one API call other than the event stream. Joins
// contact other members, so it is generous.
const requestTimeout = 60 * time.Second

// clientCommands returns the commands that talk to a running agent.
func clientCommands() []*cli.Command {
	cmds := []*cli.Command{
		membersCommand(),
		joinCommand(),
		leaveCommand(),
		forceLeaveCommand(),
		eventCommand(),
		monitorCommand(),
	}
	cmds = append(cmds, healthCommands()...)
	cmds = append(cmds, reloadCommand(), tagsCommand(), keysCommand(), versionCommand())
	addAuthFlags(cmds)
	return cmds
}

// httpAddrFlag is the -http-addr flag every command that calls the agent
// takes. A new one per command: urfave flags keep their parsed value.
func httpAddrFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "http-addr",
		Usage:   "`ADDR` (host:port, or https://host:port for an agent serving TLS) of the agent's HTTP API",
		EnvVars: []string{"VIGIL_HTTP_ADDR"},
		Value:   defaultHTTPAddr,
	}
}

// apiClient calls one agent's HTTP API.
type apiClient struct {
	addr  string // as the user gave it, for messages
	base  string // scheme://host:port
	hc    *http.Client
	token foundToken // what is sent as the bearer token, and from where
}

// newAPIClient returns a client for the -http-addr of cCtx.
func newAPIClient(cCtx *cli.Context) (*apiClient, error) {
	addr, base, err := parseHTTPAddr(cCtx.String("http-addr"))
	if err != nil {
		return nil, usageError("-http-addr %q: %v", cCtx.String("http-addr"), err)
	}
	tr := &http.Transport{
		// The API is local: never send it through a proxy from the
		// environment.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		ResponseHeaderTimeout: requestTimeout,
		MaxIdleConns:          2,
		IdleConnTimeout:       30 * time.Second,
	}
	if strings.HasPrefix(base, "https://") {
		tc, err := clientTLSConfig(cCtx.String("http-ca"))
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
	}
	var rt http.RoundTripper = tr
	token := findToken(cCtx.String("http-token"), addr)
	if token.token != "" {
		rt = tokenTransport{base: tr, token: token.token}
	}
	return &apiClient{addr: addr, base: base, hc: &http.Client{Transport: rt}, token: token}, nil
}

// parseHTTPAddr checks an -http-addr, HOST:PORT or http(s)://HOST:PORT,
// and returns its HOST:PORT and the base URL of the API. Its errors say
// what is wrong with the address.
func parseHTTPAddr(v string) (hostport, base string, err error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", "", errors.New("empty: want HOST:PORT, like 127.0.0.1:7947")
	}
	scheme := "http"
	hostport = v
	if strings.Contains(v, "://") {
		u, err := url.Parse(v)
		if err != nil {
			return "", "", fmt.Errorf("not a URL: %v", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return "", "", fmt.Errorf("scheme %q: want http:// or https://", u.Scheme)
		}
		if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
			return "", "", errors.New("want only scheme://HOST:PORT, without a path, query or user")
		}
		scheme, hostport = u.Scheme, u.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return "", "", errors.New("no port: want HOST:PORT, like 127.0.0.1:7947 (the agent's -http)")
		}
		return "", "", fmt.Errorf("want HOST:PORT, like 127.0.0.1:7947: %v", strings.TrimPrefix(err.Error(), "address "+hostport+": "))
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", "", fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	if strings.ContainsAny(host, " /?#") {
		return "", "", fmt.Errorf("host %q is not a host name or IP address", host)
	}
	return hostport, scheme + "://" + hostport, nil
}

// call sends one request with body (if not nil) encoded as JSON and decodes
// the answer into out (if not nil). Its errors are ready to return from a
// command: no agent answering, or the API's {"error": ...}.
func (c *apiClient) call(ctx context.Context, method, path string, query url.Values, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return usageError("-http-addr %q: %v", c.addr, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return c.statusError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return cli.Exit(fmt.Sprintf("vigil: agent at %s sent a response vigil can't read: %v", c.addr, err), 1)
	}
	return nil
}

// noAgent is the error of a command that found no agent to talk to.
func (c *apiClient) noAgent() error {
	return cli.Exit(fmt.Sprintf("vigil: no agent answering at %s (is \"vigil agent\" running?)", c.addr), 1)
}

// transportError explains a request that got no HTTP answer.
func (c *apiClient) transportError(err error) error {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return cli.Exit(fmt.Sprintf("vigil: -http-addr %s: host %q not found (%s)", c.addr, dnsErr.Name, dnsErr.Err), 1)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return c.noAgent()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return cli.Exit(fmt.Sprintf("vigil: agent at %s did not answer within %s", c.addr, requestTimeout), 1)
	}
	return cli.Exit(fmt.Sprintf("vigil: request to agent at %s failed: %v%s", c.addr, err, tlsHint(err)), 1)
}

// statusError turns a non-2xx answer into `vigil: <error>`.
func (c *apiClient) statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e vigilhttp.ErrorResponse
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg := "vigil: " + safeText(e.Error)
		if resp.StatusCode == http.StatusUnauthorized {
			msg += c.token.hint()
		}
		return cli.Exit(msg, 1)
	}
	if bytes.Contains(b, []byte("HTTP request to an HTTPS server")) {
		return cli.Exit(fmt.Sprintf("vigil: agent at %s serves HTTPS: use -http-addr https://%s", c.addr, c.addr), 1)
	}
	return cli.Exit(fmt.Sprintf("vigil: agent at %s answered %s", c.addr, resp.Status), 1)
}
