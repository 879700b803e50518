package probes

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The check against a hand-rolled h2c server, for answers grpc-go's health
// server never gives: broken frames, missing trailers, HTTP errors.

// h2cServer serves h on a loopback port over HTTP/1 and HTTP/2 cleartext
// with prior knowledge, and returns its address. conns, when not nil,
// counts the connections opened and closed.
func h2cServer(t *testing.T, h http.HandlerFunc, opened, closed *atomic.Int32) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: protos, ReadHeaderTimeout: 5 * time.Second}
	if opened != nil {
		srv.ConnState = func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				opened.Add(1)
			case http.StateClosed, http.StateHijacked:
				closed.Add(1)
			}
		}
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// grpcMsg returns a gRPC message: flag 0, length, pb.
func grpcMsg(pb ...byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(pb))), pb...)
}

// fakeHealth answers a health call with body and the trailers grpc-status
// and grpc-message (left out when empty), after checking the request.
func fakeHealth(t *testing.T, body []byte, status, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, _ := io.ReadAll(r.Body)
		switch {
		case r.ProtoMajor != 2, r.Method != http.MethodPost, r.URL.Path != grpcHealthPath,
			r.Header.Get("Content-Type") != "application/grpc", r.Header.Get("Te") != "trailers",
			r.Header.Get("Grpc-Timeout") == "", r.Header.Get("Accept-Encoding") != "",
			!bytes.Equal(req, encodeHealthRequest("svc")):
			t.Errorf("request %s %s %s, header %v, body %x", r.Proto, r.Method, r.URL, r.Header, req)
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		if status != "" {
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", status)
		}
		if msg != "" {
			w.Header().Set(http.TrailerPrefix+"Grpc-Message", msg)
		}
	}
}

func TestGRPCResponses(t *testing.T) {
	serving := grpcMsg(0x08, 0x01)
	tests := []struct {
		name   string
		h      http.HandlerFunc
		want   Status
		output string
	}{
		{"serving", fakeHealth(t, serving, "0", ""), Passing, "/svc: SERVING"},
		{"unknown fields skipped", fakeHealth(t, grpcMsg(
			0x10, 0x96, 0x01, // field 2 varint
			0x1a, 0x02, 'h', 'i', // field 3 bytes
			0x08, 0x02, // status NOT_SERVING, overridden below
			0x21, 1, 2, 3, 4, 5, 6, 7, 8, // field 4 fixed64
			0x2d, 1, 2, 3, 4, // field 5 fixed32
			0x08, 0x01, // status SERVING: the last wins
		), "0", ""), Passing, "/svc: SERVING"},
		{"unknown serving status", fakeHealth(t, grpcMsg(0x08, 0x07), "0", ""), Critical, "/svc: status 7"},
		{"default status", fakeHealth(t, grpcMsg(), "0", ""), Critical, "/svc: UNKNOWN"},
		{"status beats body", fakeHealth(t, serving, "14", "draining"), Critical,
			"/svc: rpc error: code = Unavailable desc = draining"},
		{"percent-encoded message", fakeHealth(t, nil, "13", "caf%C3%A9 50%zz%"), Critical,
			"rpc error: code = Internal desc = café 50%zz%"},
		{"unknown code", fakeHealth(t, nil, "42", ""), Critical, "rpc error: code = Code(42) desc = "},
		// The server enforcing the grpc-timeout the check sent: the
		// check's own timeout, reported as such.
		{"deadline exceeded by the server", fakeHealth(t, nil, "4", "context deadline exceeded"), Critical, "/svc: timed out after "},
		{"bad code", fakeHealth(t, nil, "ok", ""), Critical, `grpc-status "ok": not a status code`},
		{"no status", fakeHealth(t, serving, "", ""), Critical, "response without grpc-status"},
		{"no message", fakeHealth(t, nil, "0", ""), Critical, "health response: no response message"},
		{"compressed", fakeHealth(t, []byte{1, 0, 0, 0, 2, 0x08, 0x01}, "0", ""), Critical,
			"health response: compressed response message"},
		{"truncated", fakeHealth(t, []byte{0, 0, 0, 0, 9, 0x08, 0x01}, "0", ""), Critical,
			"health response: message of 9 bytes, 2 received: truncated"},
		{"huge length", fakeHealth(t, []byte{0, 0xff, 0xff, 0xff, 0xff, 0x08}, "0", ""), Critical,
			"health response: message of 4294967295 bytes, 1 received: truncated"},
		{"two messages", fakeHealth(t, append(grpcMsg(0x08, 0x01), grpcMsg(0x08, 0x01)...), "0", ""), Critical,
			"health response: 7 bytes after the response message"},
		{"huge body", fakeHealth(t, make([]byte, 200<<10), "0", ""), Critical, "response over 64 KiB"},
		{"trailers only", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Grpc-Status", "5")
			w.Header().Set("Grpc-Message", "unknown service")
		}, Critical, "/svc: rpc error: code = NotFound desc = unknown service"},
		{"HTTP error", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}, Critical, "/svc: HTTP status 503 Service Unavailable: not a gRPC response"},
		{"HTTP error with grpc-status", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Grpc-Status", "14")
			w.Header().Set("Grpc-Message", "proxy: no upstream")
			w.WriteHeader(http.StatusBadGateway)
		}, Critical, "rpc error: code = Unavailable desc = proxy: no upstream"},
		{"not gRPC", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html>")
		}, Critical, `/svc: content-type "text/html": not a gRPC response`},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, Critical, "/svc: HTTP status 302 Found: not a gRPC response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := h2cServer(t, tt.h, nil, nil)
			res := runProbe(t, Definition{ID: "g", GRPC: addr, GRPCService: "svc"})
			if res.status != tt.want || !strings.Contains(res.output, tt.output) {
				t.Errorf("status %s output %q, want %s %q", res.status, res.output, tt.want, tt.output)
			}
		})
	}
}

// An HTTP/1-only server does not understand the HTTP/2 preface: critical,
// not a hang.
func TestGRPCHTTP1Server(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	res := runProbe(t, Definition{ID: "g", GRPC: addr, Timeout: Duration(2 * time.Second)})
	if res.status != Critical || strings.Contains(res.output, "timed out") {
		t.Errorf("status %s output %q, want critical, not a timeout", res.status, res.output)
	}
	t.Logf("output: %s", res.output)
}

// Each run opens its own connection and closes it when done: the check
// holds none between runs and leaks none.
func TestGRPCConnectionPerRun(t *testing.T) {
	var opened, closed atomic.Int32
	addr := h2cServer(t, fakeHealth(t, grpcMsg(0x08, 0x01), "0", ""), &opened, &closed)
	d := Definition{ID: "g", GRPC: addr, GRPCService: "svc"}.WithDefaults()
	p := newProber(d)
	t.Cleanup(p.close)

	const runs = 3
	for i := range runs {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(d.Timeout))
		res := p.probe(ctx)
		cancel()
		if res.status != Passing {
			t.Fatalf("run %d: status %s output %q", i, res.status, res.output)
		}
	}
	waitFor(t, 5*time.Second, "the server to see every connection closed", func() bool {
		return closed.Load() == runs
	})
	if n := opened.Load(); n != runs {
		t.Errorf("%d connections for %d runs, want one each", n, runs)
	}
	if gp := p.(*grpcProber); gp.client == nil {
		t.Error("no client kept between runs")
	}
}

// close on a check that never ran does not build a client.
func TestGRPCCloseUnused(t *testing.T) {
	p := &grpcProber{addr: "127.0.0.1:1", timeout: time.Second}
	p.close()
	if p.client != nil {
		t.Error("close built a client")
	}
}

// TestGRPCTimeoutOutlastsTheCheck: the deadline the check gives the server
// (grpc-timeout) is later than its own, so a server enforcing it never
// cuts the call before the check reports its own timeout.
func TestGRPCTimeoutOutlastsTheCheck(t *testing.T) {
	sent := make(chan string, 1)
	addr := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		sent <- r.Header.Get("Grpc-Timeout")
		fakeHealth(t, grpcMsg(0x08, 0x01), "0", "")(w, r)
	}, nil, nil)
	const timeout = 300 * time.Millisecond
	if res := runProbe(t, Definition{ID: "g", GRPC: addr, GRPCService: "svc", Timeout: Duration(timeout)}); res.status != Passing {
		t.Fatalf("check: %v %q", res.status, res.output)
	}
	v := <-sent
	units := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}
	unit, ok := units[v[len(v)-1]]
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if !ok || err != nil {
		t.Fatalf("grpc-timeout %q: not a gRPC timeout", v)
	}
	if got := time.Duration(n) * unit; got <= timeout {
		t.Errorf("grpc-timeout %q (%s) does not outlast the check's own %s timeout", v, got, timeout)
	}
}
