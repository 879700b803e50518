package probes

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcProber runs a grpc.health.v1 check over plaintext: SERVING passing,
// anything else critical.
type grpcProber struct {
	addr    string
	service string
	timeout time.Duration
}

func (p *grpcProber) close() {}

func (p *grpcProber) probe(ctx context.Context) result {
	target := p.addr
	if p.service != "" {
		target += "/" + p.service
	}
	prefix := "gRPC check " + target
	// A connection per run, like the HTTP check's fresh connection: no
	// state (backoff, a half-dead connection) carries from one run to the
	// next. The passthrough resolver hands the address to the dialer as is.
	conn, err := grpc.NewClient("passthrough:///"+p.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return result{Critical, fmt.Sprintf("%s: %v", prefix, err)}
	}
	defer conn.Close()

	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: p.service})
	if err != nil {
		if timedOut(ctx, err) {
			return result{Critical, fmt.Sprintf("%s: timed out after %s", prefix, p.timeout)}
		}
		return result{Critical, fmt.Sprintf("%s: %v", prefix, err)}
	}
	st := resp.GetStatus()
	if st == healthpb.HealthCheckResponse_SERVING {
		return result{Passing, fmt.Sprintf("%s: %s", prefix, st)}
	}
	return result{Critical, fmt.Sprintf("%s: %s", prefix, st)}
}
