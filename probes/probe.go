package probes

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"
)

// result is what one run of a probe found.
type result struct {
	status Status
	output string
}

// prober runs one kind of check. probe is bounded by ctx, which carries the
// check's timeout; it never panics and always returns a status.
type prober interface {
	probe(ctx context.Context) result
	// close releases what the prober keeps between runs.
	close()
}

// newProber returns the prober of a probed (non-TTL) definition, defaults
// applied.
func newProber(d Definition) prober {
	timeout := time.Duration(d.Timeout)
	switch d.Kind() {
	case KindHTTP:
		return newHTTPProber(d, timeout)
	case KindTCP:
		return &tcpProber{addr: d.TCP, timeout: timeout}
	case KindExec:
		return &execProber{argv: d.Exec, timeout: timeout}
	case KindGRPC:
		return &grpcProber{addr: d.GRPC, service: d.GRPCService, timeout: timeout}
	}
	return nil
}

// timedOut reports whether a probe's error comes from its run's deadline.
func timedOut(ctx context.Context, err error) bool {
	return errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		errors.Is(err, context.DeadlineExceeded)
}

// validUTF8Start drops the partial UTF-8 sequence a cut at the front of b
// may have left.
func validUTF8Start(b []byte) []byte {
	for i := 0; i < len(b) && i < utf8.UTFMax; i++ {
		if utf8.RuneStart(b[i]) {
			return b[i:]
		}
	}
	return b
}

// validUTF8End drops the partial UTF-8 sequence a cut at the end of b may
// have left.
func validUTF8End(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return b
			}
			return b[:i]
		}
	}
	return b
}
