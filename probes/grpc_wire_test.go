package probes

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
)

func TestEncodeHealthRequest(t *testing.T) {
	for _, service := range []string{"", "orders", "grpc.health.v1.Health", strings.Repeat("x", 200), strings.Repeat("y", 70000)} {
		pb, err := proto.Marshal(&healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatal(err)
		}
		got := encodeHealthRequest(service)
		if want := grpcMsg(pb...); !bytes.Equal(got, want) {
			t.Errorf("service of %d bytes: %x, want %x", len(service), got[:min(len(got), 16)], want[:min(len(want), 16)])
		}
	}
}

func TestDecodeHealthResponse(t *testing.T) {
	// What protobuf itself encodes, every status.
	for _, st := range []healthpb.HealthCheckResponse_ServingStatus{0, 1, 2, 3, 42, -1} {
		pb, err := proto.Marshal(&healthpb.HealthCheckResponse{Status: st})
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeHealthResponse(grpcMsg(pb...))
		if err != nil || got != int32(st) {
			t.Errorf("status %d: got %d, %v", st, got, err)
		}
	}

	tests := []struct {
		name  string
		frame []byte
		want  int32
		err   error // nil for success
		text  string
	}{
		{"serving", grpcMsg(0x08, 0x01), healthServing, nil, ""},
		{"empty message", grpcMsg(), healthUnknown, nil, ""},
		{"unknown fields", grpcMsg(0x10, 0x01, 0x1a, 0x00, 0x21, 0, 0, 0, 0, 0, 0, 0, 0, 0x2d, 0, 0, 0, 0, 0x08, 0x02), healthNotServing, nil, ""},
		{"large field number", grpcMsg(0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x08, 0x01), healthServing, nil, ""},
		{"no body", nil, 0, errMalformed, "no response message"},
		{"short prefix", []byte{0, 0, 0, 0}, 0, errTruncated, "message prefix of 4 bytes, want 5"},
		{"compressed", []byte{1, 0, 0, 0, 2, 0x08, 0x01}, 0, errCompressed, "compressed"},
		{"bad flag", []byte{2, 0, 0, 0, 0}, 0, errMalformed, "message flag 2"},
		{"truncated message", []byte{0, 0, 0, 0, 3, 0x08, 0x01}, 0, errTruncated, "message of 3 bytes, 2 received"},
		{"huge length", []byte{0, 0xff, 0xff, 0xff, 0xff}, 0, errTruncated, "message of 4294967295 bytes, 0 received"},
		{"trailing bytes", append(grpcMsg(0x08, 0x01), 0), 0, errMalformed, "1 bytes after the response message"},
		{"truncated key", grpcMsg(0x80), 0, errTruncated, "field key: varint"},
		{"truncated varint", grpcMsg(0x08, 0x81), 0, errTruncated, "field 1: varint"},
		{"overflowing varint", grpcMsg(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), 0, errMalformed, "overflows"},
		{"field zero", grpcMsg(0x00, 0x01), 0, errMalformed, "field number 0"},
		{"field number too large", grpcMsg(0x80, 0x80, 0x80, 0x80, 0x10, 0x00), 0, errMalformed, "field number 536870912"},
		{"status as bytes", grpcMsg(0x0a, 0x01, 0x01), 0, errMalformed, "status field of wire type 2"},
		{"group", grpcMsg(0x13, 0x14), 0, errMalformed, "field 2 of wire type 3"},
		{"wire type 7", grpcMsg(0x17), 0, errMalformed, "field 2 of wire type 7"},
		{"truncated bytes field", grpcMsg(0x12, 0x05, 'a'), 0, errTruncated, "field 2 of 5 bytes, 1 left"},
		{"huge bytes field", grpcMsg(0x12, 0xff, 0xff, 0xff, 0xff, 0x0f), 0, errTruncated, "field 2 of 4294967295 bytes"},
		{"truncated length", grpcMsg(0x12), 0, errTruncated, "field 2 length: varint"},
		{"truncated fixed64", grpcMsg(0x11, 1, 2, 3), 0, errTruncated, "field 2"},
		{"truncated fixed32", grpcMsg(0x15, 1, 2, 3), 0, errTruncated, "field 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeHealthResponse(tt.frame)
			if tt.err == nil {
				if err != nil || got != tt.want {
					t.Errorf("got %d, %v; want %d", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("got %d, %v; want an error %q (%v)", got, err, tt.text, tt.err)
			}
		})
	}
}

func FuzzDecodeHealthResponse(f *testing.F) {
	f.Add([]byte{0x08, 0x01})
	f.Add([]byte{0x10, 0x01, 0x1a, 0x00, 0x08, 0x02})
	f.Add([]byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x13, 0x14})
	f.Fuzz(func(t *testing.T, pb []byte) {
		got, err := decodeHealthResponse(grpcMsg(pb...))
		var want healthpb.HealthCheckResponse
		perr := proto.Unmarshal(pb, &want)
		switch {
		case err == nil && perr != nil:
			t.Fatalf("decoded %d where protobuf fails: %v", got, perr)
		case err == nil && got != int32(want.GetStatus()):
			t.Fatalf("decoded %d, protobuf %d", got, want.GetStatus())
		case err != nil && perr == nil && !strings.Contains(err.Error(), "wire type"):
			// Groups are the one thing protobuf skips and this refuses.
			t.Fatalf("refused what protobuf decodes (%d): %v", want.GetStatus(), err)
		}
	})
}

func TestDecodeGRPCMessage(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "",
		"unknown service":        "unknown service",
		"a%20b":                  "a b",
		"caf%C3%a9":              "café",
		"100%":                   "100%",
		"%zz%2":                  "%zz%2",
		"bad %FF utf8":           "bad \uFFFD utf8",
		strings.Repeat("é", 600): strings.Repeat("é", maxGRPCMessage/2),
	} {
		if got := decodeGRPCMessage(in); got != want {
			t.Errorf("decodeGRPCMessage(%.20q) = %.20q (%d bytes), want %.20q", in, got, len(got), want)
		}
	}
}

func TestEncodeGRPCTimeout(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                "0n",
		0:                           "0n",
		time.Nanosecond:             "1n",
		99999999 * time.Nanosecond:  "99999999n",
		100000000 * time.Nanosecond: "100000u",
		10 * time.Second:            "10000000u",
		100*time.Second + 1:         "100001m",
		30 * time.Hour:              "108000S",
		math.MaxInt64:               "2562048H",
	} {
		if got := encodeGRPCTimeout(d); got != want {
			t.Errorf("encodeGRPCTimeout(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestGRPCCodeName(t *testing.T) {
	for c, want := range map[uint32]string{0: "OK", 5: "NotFound", 12: "Unimplemented", 16: "Unauthenticated", 17: "Code(17)", 1 << 31: "Code(2147483648)"} {
		if got := grpcCodeName(c); got != want {
			t.Errorf("grpcCodeName(%d) = %q, want %q", c, got, want)
		}
	}
	for _, ct := range []string{"application/grpc", "application/grpc+proto", "Application/GRPC; charset=utf-8"} {
		if !isGRPCContentType(ct) {
			t.Errorf("%q: not taken for gRPC", ct)
		}
	}
	for _, ct := range []string{"", "application/grpcx", "application/json", "text/html"} {
		if isGRPCContentType(ct) {
			t.Errorf("%q: taken for gRPC", ct)
		}
	}
}
