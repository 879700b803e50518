package probes

import (
	"context"
	"fmt"
	"net"
	"time"
)

// tcpProber runs a TCP check: passing when a connection opens in time.
type tcpProber struct {
	addr    string
	timeout time.Duration
}

func (p *tcpProber) close() {}

func (p *tcpProber) probe(ctx context.Context) result {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		if timedOut(ctx, err) {
			return result{Critical, fmt.Sprintf("TCP connect %s: timed out after %s", p.addr, p.timeout)}
		}
		return result{Critical, fmt.Sprintf("TCP connect %s: %v", p.addr, err)}
	}
	_ = conn.Close()
	return result{Passing, fmt.Sprintf("TCP connect %s: Success", p.addr)}
}
