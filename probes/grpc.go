package probes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// grpcTimeoutMargin is added to the deadline the check tells the server
// (grpc-timeout), so that the check itself gives up first and reports its
// own timeout; a server enforcing exactly the check's deadline could
// cancel the stream a moment before the check's context expires, and the
// check would report a reset stream instead of "timed out".
const grpcTimeoutMargin = 100 * time.Millisecond

// grpcProber runs a grpc.health.v1 check over plaintext: SERVING passing,
// anything else critical. It speaks gRPC over the standard library's
// HTTP/2 client, cleartext with prior knowledge (h2c), as grpc-go does
// with insecure credentials.
type grpcProber struct {
	addr    string
	service string
	timeout time.Duration

	once   sync.Once // sets client, on the first run
	client *http.Client
}

// init builds the check's client. One transport serves every run, but
// with keep-alives off: each run opens a fresh connection, closed when its
// call ends, so no state (a half-dead connection, a GOAWAY) carries from
// one run to the next and the agent holds no idle connection between runs.
func (p *grpcProber) init() {
	protos := new(http.Protocols)
	protos.SetUnencryptedHTTP2(true) // and not HTTP/1: prior knowledge
	tr := &http.Transport{
		Proxy:                  nil, // the service is probed directly
		DialContext:            (&net.Dialer{Timeout: p.timeout}).DialContext,
		DisableKeepAlives:      true,
		DisableCompression:     true, // no Accept-Encoding: gRPC has its own
		MaxResponseHeaderBytes: 64 << 10,
		Protocols:              protos,
		HTTP2: &http.HTTP2Config{
			// A health response is a few bytes: small flow-control
			// windows bound what a misbehaving server can make us buffer.
			MaxReceiveBufferPerConnection: maxGRPCResponse,
			MaxReceiveBufferPerStream:     maxGRPCResponse,
		},
	}
	p.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // gRPC does not redirect
		},
	}
}

func (p *grpcProber) close() {
	p.once.Do(func() {}) // never ran: nothing to close, and nothing will run
	if p.client != nil {
		p.client.CloseIdleConnections()
	}
}

func (p *grpcProber) probe(ctx context.Context) result {
	target := p.addr
	if p.service != "" {
		target += "/" + p.service
	}
	prefix := "gRPC check " + target
	p.once.Do(p.init)

	st, err := p.check(ctx)
	if err != nil {
		// A DeadlineExceeded status is the server enforcing a deadline:
		// the grpc-timeout this check sent or a limit of its own. Either
		// way the service did not answer in time.
		var se *grpcStatusError
		if timedOut(ctx, err) || (errors.As(err, &se) && se.code == grpcCodeDeadlineExceeded) {
			return result{Critical, fmt.Sprintf("%s: timed out after %s", prefix, p.timeout)}
		}
		return result{Critical, fmt.Sprintf("%s: %v", prefix, err)}
	}
	if st == healthServing {
		return result{Passing, fmt.Sprintf("%s: %s", prefix, healthStatusName(st))}
	}
	return result{Critical, fmt.Sprintf("%s: %s", prefix, healthStatusName(st))}
}

// check calls Health/Check once and returns the serving status, or why
// there is none: a transport error, a non-OK grpc-status
// (*grpcStatusError) or a response that is not a health response.
func (p *grpcProber) check(ctx context.Context) (int32, error) {
	u := url.URL{Scheme: "http", Host: p.addr, Path: grpcHealthPath}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(encodeHealthRequest(p.service)))
	if err != nil {
		return 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("User-Agent", "vigil-health-check")
	if dl, ok := ctx.Deadline(); ok {
		req.Header.Set("Grpc-Timeout", encodeGRPCTimeout(time.Until(dl)+grpcTimeoutMargin))
	}

	resp, err := p.client.Do(req)
	if err != nil {
		// The *url.Error would repeat the address: keep its cause.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, err
	}
	defer resp.Body.Close()

	// A trailers-only response (an error, such as an unknown service)
	// carries grpc-status in its headers and has no body.
	if resp.StatusCode != http.StatusOK {
		if serr := grpcStatus(resp.Header); serr != nil {
			return 0, serr
		}
		return 0, fmt.Errorf("HTTP status %s: not a gRPC response", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !isGRPCContentType(ct) {
		return 0, fmt.Errorf("content-type %q: not a gRPC response", ct)
	}

	// Read to the end, so that the trailers arrive, but no further than a
	// health response could take.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxGRPCResponse+1))
	if err != nil {
		return 0, fmt.Errorf("reading the response: %w", err)
	}
	if len(body) > maxGRPCResponse {
		return 0, fmt.Errorf("response over %d KiB: not a health response", maxGRPCResponse>>10)
	}

	trailer := resp.Trailer
	if trailer.Get("Grpc-Status") == "" {
		trailer = resp.Header // trailers-only
	}
	if trailer.Get("Grpc-Status") == "" {
		return 0, errors.New("response without grpc-status: the server closed the call without a status")
	}
	if serr := grpcStatus(trailer); serr != nil {
		return 0, serr
	}
	st, err := decodeHealthResponse(body)
	if err != nil {
		return 0, fmt.Errorf("health response: %w", err)
	}
	return st, nil
}

// grpcStatus returns the error of the grpc-status and grpc-message in h:
// nil when grpc-status is missing or 0 (OK).
func grpcStatus(h http.Header) error {
	s := h.Get("Grpc-Status")
	if s == "" {
		return nil
	}
	code, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return fmt.Errorf("grpc-status %q: not a status code", s)
	}
	if code == 0 {
		return nil
	}
	return &grpcStatusError{code: uint32(code), msg: decodeGRPCMessage(h.Get("Grpc-Message"))}
}

// isGRPCContentType reports whether ct is application/grpc or one of its
// variants ("application/grpc+proto", "application/grpc; charset=...").
func isGRPCContentType(ct string) bool {
	rest, ok := strings.CutPrefix(strings.ToLower(ct), "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}
