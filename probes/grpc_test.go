package probes

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// The check against grpc-go's own health server: grpc-go is a test-only
// dependency, the proof that the hand-written client interoperates.

// grpcServer serves srv on a loopback port for the test and returns its
// address.
func grpcServer(t *testing.T, srv *grpc.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	// A socket bound to the port but never listening: the port stays
	// ours for the test (a closed listener's port can be taken by any
	// other test's listener meanwhile, and a connection to it then hangs
	// instead of being refused), and a connection to it is refused.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				<-done
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		close(done)
		_ = ln.Close()
	})
	return ln.Addr().String()
}

// hangingHealth is a health server whose Check answers only when the call
// is cancelled.
type hangingHealth struct {
	healthpb.UnimplementedHealthServer
}

func (hangingHealth) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestGRPC(t *testing.T) {
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("billing", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus("legacy", healthpb.HealthCheckResponse_UNKNOWN)
	hs.SetServingStatus("gone", healthpb.HealthCheckResponse_SERVICE_UNKNOWN)
	hs.SetServingStatus(strings.Repeat("s", 300), healthpb.HealthCheckResponse_SERVING) // a 2-byte length
	healthpb.RegisterHealthServer(srv, hs)
	addr := grpcServer(t, srv)

	// A gRPC server without the health service.
	bare := grpcServer(t, grpc.NewServer())

	hanging := grpc.NewServer()
	healthpb.RegisterHealthServer(hanging, hangingHealth{})
	hangAddr := grpcServer(t, hanging)

	dead := deadAddr(t)
	silent := silentServer(t)

	tests := []struct {
		name, addr, service string
		timeout             time.Duration
		want                Status
		output              string
	}{
		{"server serving", addr, "", 0, Passing, "gRPC check " + addr + ": SERVING"},
		{"service serving", addr, "orders", 0, Passing, "gRPC check " + addr + "/orders: SERVING"},
		{"long service name", addr, strings.Repeat("s", 300), 0, Passing, ": SERVING"},
		{"service not serving", addr, "billing", 0, Critical, "gRPC check " + addr + "/billing: NOT_SERVING"},
		{"service unknown status", addr, "legacy", 0, Critical, "gRPC check " + addr + "/legacy: UNKNOWN"},
		{"service status SERVICE_UNKNOWN", addr, "gone", 0, Critical, "gRPC check " + addr + "/gone: SERVICE_UNKNOWN"},
		{"service not registered", addr, "nope", 0, Critical,
			"gRPC check " + addr + "/nope: rpc error: code = NotFound desc = unknown service"},
		{"no health service", bare, "", 0, Critical,
			"gRPC check " + bare + ": rpc error: code = Unimplemented desc = unknown service grpc.health.v1.Health"},
		{"no server", dead, "", 0, Critical, "gRPC check " + dead + ": dial tcp " + dead + ": connect: connection refused"},
		{"check hangs", hangAddr, "", 300 * time.Millisecond, Critical, "gRPC check " + hangAddr + ": timed out after 300ms"},
		{"server silent", silent, "", 300 * time.Millisecond, Critical, "gRPC check " + silent + ": timed out after 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res := runProbe(t, Definition{ID: "g", GRPC: tt.addr, GRPCService: tt.service, Timeout: Duration(tt.timeout)})
			if res.status != tt.want || !strings.Contains(res.output, tt.output) {
				t.Errorf("status %s output %q, want %s %q", res.status, res.output, tt.want, tt.output)
			}
			if tt.timeout > 0 && time.Since(start) > tt.timeout+2*time.Second {
				t.Errorf("run took %s with a %s timeout", time.Since(start), tt.timeout)
			}
		})
	}

	// One prober, several runs: the server turning NOT_SERVING is seen by
	// the next run, and back.
	d := Definition{ID: "g", GRPC: addr}.WithDefaults()
	p := newProber(d)
	t.Cleanup(p.close)
	for i, want := range []struct {
		set    healthpb.HealthCheckResponse_ServingStatus
		status Status
	}{
		{healthpb.HealthCheckResponse_SERVING, Passing},
		{healthpb.HealthCheckResponse_NOT_SERVING, Critical},
		{healthpb.HealthCheckResponse_SERVING, Passing},
	} {
		hs.SetServingStatus("", want.set)
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(d.Timeout))
		res := p.probe(ctx)
		cancel()
		if res.status != want.status {
			t.Errorf("run %d after %s: status %s output %q", i, want.set, res.status, res.output)
		}
	}
}
