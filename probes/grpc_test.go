package probes

import (
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("billing", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus("legacy", healthpb.HealthCheckResponse_UNKNOWN)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	addr := ln.Addr().String()

	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	_ = dead.Close()

	tests := []struct {
		name, addr, service string
		want                Status
		output              string
	}{
		{"server serving", addr, "", Passing, "gRPC check " + addr + ": SERVING"},
		{"service serving", addr, "orders", Passing, "gRPC check " + addr + "/orders: SERVING"},
		{"service not serving", addr, "billing", Critical, "gRPC check " + addr + "/billing: NOT_SERVING"},
		{"service unknown status", addr, "legacy", Critical, "UNKNOWN"},
		{"service not registered", addr, "nope", Critical, "NotFound"},
		{"no server", deadAddr, "", Critical, "gRPC check " + deadAddr + ": "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runProbe(t, Definition{ID: "g", GRPC: tt.addr, GRPCService: tt.service})
			if res.status != tt.want || !strings.Contains(res.output, tt.output) {
				t.Errorf("status %s output %q, want %s %q", res.status, res.output, tt.want, tt.output)
			}
		})
	}

	// The server turning NOT_SERVING is seen by the next run.
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if res := runProbe(t, Definition{ID: "g", GRPC: addr}); res.status != Critical {
		t.Errorf("after NOT_SERVING: status %s output %q", res.status, res.output)
	}
}
