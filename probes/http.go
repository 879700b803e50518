package probes

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// httpProber runs an HTTP check: 2xx passing, 429 warning, else critical.
type httpProber struct {
	def       Definition
	timeout   time.Duration
	client    *http.Client
	transport *http.Transport
}

// newHTTPProber gives the check its own transport with keep-alives off, so
// every run opens a fresh connection, as a new client would, and a check
// never holds idle connections to the service. Proxies from the
// environment are not used: the check probes the service directly.
func newHTTPProber(d Definition, timeout time.Duration) *httpProber {
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{Timeout: timeout}).DialContext,
		DisableKeepAlives:      true,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	if d.TLSSkipVerify {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the check's definition
	}
	return &httpProber{
		def:       d,
		timeout:   timeout,
		transport: tr,
		// The default CheckRedirect: follow up to 10 redirects.
		client: &http.Client{Transport: tr},
	}
}

func (p *httpProber) close() { p.transport.CloseIdleConnections() }

func (p *httpProber) probe(ctx context.Context) result {
	method := p.def.Method
	if method == "" {
		method = DefaultMethod
	}
	prefix := fmt.Sprintf("HTTP %s %s", method, p.def.HTTP)
	var body io.Reader
	if p.def.Body != "" {
		body = strings.NewReader(p.def.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.def.HTTP, body)
	if err != nil {
		return result{Critical, fmt.Sprintf("%s: %v", prefix, err)}
	}
	req.Header.Set("User-Agent", "vigil-health-check")
	req.Header.Set("Accept", "text/plain, text/*, */*")
	for k, vs := range p.def.Header {
		if http.CanonicalHeaderKey(k) == "Host" {
			if len(vs) > 0 {
				req.Host = vs[0]
			}
			continue
		}
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}

	resp, err := p.client.Do(req)
	if err != nil {
		if timedOut(ctx, err) {
			return result{Critical, fmt.Sprintf("%s: timed out after %s", prefix, p.timeout)}
		}
		return result{Critical, fmt.Sprintf("%s: %v", prefix, err)}
	}
	defer resp.Body.Close()
	// Keep the first 4 KiB of the body; the rest is not read (the
	// connection is not reused, so it need not be drained).
	buf, err := io.ReadAll(io.LimitReader(resp.Body, MaxOutput))
	out := string(validUTF8End(buf))
	if err != nil && len(buf) == 0 && timedOut(ctx, err) {
		out = fmt.Sprintf("(body: timed out after %s)", p.timeout)
	}

	status := Critical
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		status = Passing
	case resp.StatusCode == http.StatusTooManyRequests:
		status = Warning
	}
	return result{status, fmt.Sprintf("%s: %s Output: %s", prefix, resp.Status, out)}
}
