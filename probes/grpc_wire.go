package probes

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The wire format of grpc.health.v1.Health/Check, encoded and decoded by
// hand so that the agent does not link google.golang.org/grpc: a gRPC
// message is a 5-byte prefix (compressed flag, big-endian length) and a
// protobuf body. HealthCheckRequest is {string service = 1};
// HealthCheckResponse is {ServingStatus status = 1}.

const (
	// grpcHealthPath is the HTTP/2 path of the health check method.
	grpcHealthPath = "/grpc.health.v1.Health/Check"
	// grpcPrefixLen is the length of a gRPC message's prefix.
	grpcPrefixLen = 5
	// maxGRPCResponse bounds the bytes read from a health response body: a
	// HealthCheckResponse takes a few bytes, so anything close to this is
	// not a health server's answer.
	maxGRPCResponse = 64 << 10
	// maxGRPCMessage bounds the grpc-message kept in a check's output.
	maxGRPCMessage = 1024
)

// Values of HealthCheckResponse.ServingStatus.
const (
	healthUnknown        = 0
	healthServing        = 1
	healthNotServing     = 2
	healthServiceUnknown = 3
)

// Protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// Errors of decodeHealthResponse, wrapped with details; test them with
// errors.Is.
var (
	errTruncated  = errors.New("truncated")
	errCompressed = errors.New("compressed response message (not supported: the check asks for none)")
	errMalformed  = errors.New("malformed")
)

// encodeHealthRequest returns the gRPC message (prefix and protobuf) of a
// HealthCheckRequest for service; an empty service is left out, as
// protobuf does for a field at its default.
func encodeHealthRequest(service string) []byte {
	var pb []byte
	if service != "" {
		pb = append(pb, 1<<3|wireBytes)
		pb = binary.AppendUvarint(pb, uint64(len(service)))
		pb = append(pb, service...)
	}
	msg := make([]byte, grpcPrefixLen, grpcPrefixLen+len(pb))
	binary.BigEndian.PutUint32(msg[1:], uint32(len(pb)))
	return append(msg, pb...)
}

// decodeHealthResponse returns the serving status of the one gRPC message
// in body: a HealthCheckResponse, uncompressed, with nothing after it.
func decodeHealthResponse(body []byte) (int32, error) {
	if len(body) == 0 {
		return 0, fmt.Errorf("no response message: %w", errMalformed)
	}
	if len(body) < grpcPrefixLen {
		return 0, fmt.Errorf("message prefix of %d bytes, want %d: %w", len(body), grpcPrefixLen, errTruncated)
	}
	switch body[0] {
	case 0:
	case 1:
		return 0, errCompressed
	default:
		return 0, fmt.Errorf("message flag %d, want 0: %w", body[0], errMalformed)
	}
	n := binary.BigEndian.Uint32(body[1:grpcPrefixLen])
	rest := body[grpcPrefixLen:]
	if uint64(n) > uint64(len(rest)) {
		return 0, fmt.Errorf("message of %d bytes, %d received: %w", n, len(rest), errTruncated)
	}
	if uint64(n) < uint64(len(rest)) {
		return 0, fmt.Errorf("%d bytes after the response message: %w", len(rest)-int(n), errMalformed)
	}
	st, err := decodeHealthCheckResponse(rest)
	if err != nil {
		return 0, fmt.Errorf("HealthCheckResponse: %w", err)
	}
	return st, nil
}

// decodeHealthCheckResponse decodes the protobuf of a HealthCheckResponse:
// field 1 (a varint) is the status, the last one winning as in protobuf;
// other fields are skipped by their wire type.
func decodeHealthCheckResponse(pb []byte) (int32, error) {
	var status int32 // a missing field is the default, UNKNOWN
	for len(pb) > 0 {
		key, n := binary.Uvarint(pb)
		if n <= 0 {
			return 0, fmt.Errorf("field key: %w", varintErr(n))
		}
		pb = pb[n:]
		field, wire := key>>3, key&7
		if field == 0 || field > 1<<29-1 {
			return 0, fmt.Errorf("field number %d: %w", field, errMalformed)
		}
		if field == 1 && wire != wireVarint {
			return 0, fmt.Errorf("status field of wire type %d, want varint: %w", wire, errMalformed)
		}
		switch wire {
		case wireVarint:
			v, n := binary.Uvarint(pb)
			if n <= 0 {
				return 0, fmt.Errorf("field %d: %w", field, varintErr(n))
			}
			pb = pb[n:]
			if field == 1 {
				status = int32(v) // an enum is an int32; negative values take 10 bytes
			}
		case wireFixed64, wireFixed32:
			size := 8
			if wire == wireFixed32 {
				size = 4
			}
			if len(pb) < size {
				return 0, fmt.Errorf("field %d: %w", field, errTruncated)
			}
			pb = pb[size:]
		case wireBytes:
			l, n := binary.Uvarint(pb)
			if n <= 0 {
				return 0, fmt.Errorf("field %d length: %w", field, varintErr(n))
			}
			pb = pb[n:]
			if l > uint64(len(pb)) {
				return 0, fmt.Errorf("field %d of %d bytes, %d left: %w", field, l, len(pb), errTruncated)
			}
			pb = pb[l:]
		default: // 3 and 4 are the deprecated groups; 6 and 7 do not exist
			return 0, fmt.Errorf("field %d of wire type %d: %w", field, wire, errMalformed)
		}
	}
	return status, nil
}

// varintErr is the error of a varint binary.Uvarint could not read: n is 0
// when the input ran out, negative when the value overflows 64 bits.
func varintErr(n int) error {
	if n == 0 {
		return fmt.Errorf("varint: %w", errTruncated)
	}
	return fmt.Errorf("varint overflows 64 bits: %w", errMalformed)
}

// healthStatusName returns the name of a ServingStatus, or its number for
// a value this version does not know.
func healthStatusName(s int32) string {
	switch s {
	case healthUnknown:
		return "UNKNOWN"
	case healthServing:
		return "SERVING"
	case healthNotServing:
		return "NOT_SERVING"
	case healthServiceUnknown:
		return "SERVICE_UNKNOWN"
	}
	return "status " + strconv.Itoa(int(s))
}

// grpcCodeNames are the gRPC status codes as grpc-go spells them.
var grpcCodeNames = [...]string{
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
	"NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
	"FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
	"Internal", "Unavailable", "DataLoss", "Unauthenticated",
}

// grpcCodeName returns the name of a gRPC status code, as grpc-go's
// codes.Code.String does.
func grpcCodeName(c uint32) string {
	if int64(c) < int64(len(grpcCodeNames)) {
		return grpcCodeNames[c]
	}
	return "Code(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// grpcCodeDeadlineExceeded is gRPC's status code 4, DEADLINE_EXCEEDED.
const grpcCodeDeadlineExceeded = 4

// grpcStatusError is a non-OK grpc-status a server answered with.
type grpcStatusError struct {
	code uint32
	msg  string
}

// Error reads as grpc-go's status errors do.
func (e *grpcStatusError) Error() string {
	return fmt.Sprintf("rpc error: code = %s desc = %s", grpcCodeName(e.code), e.msg)
}

// decodeGRPCMessage undoes the percent-encoding of a grpc-message value;
// a '%' not followed by two hex digits is kept as is, as the gRPC spec
// asks. The result is cut to maxGRPCMessage bytes of valid UTF-8.
func decodeGRPCMessage(s string) string {
	if strings.IndexByte(s, '%') >= 0 {
		b := make([]byte, 0, len(s))
		for i := 0; i < len(s); i++ {
			if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
				i += 2
				continue
			}
			b = append(b, s[i])
		}
		s = string(b)
	}
	if len(s) > maxGRPCMessage {
		s = string(validUTF8End([]byte(s[:maxGRPCMessage])))
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// encodeGRPCTimeout formats d as a grpc-timeout header value: at most 8
// digits and a unit, rounded up so that the server never gives up before
// the client does.
func encodeGRPCTimeout(d time.Duration) string {
	const maxValue = 1e8 - 1
	if d <= 0 {
		return "0n"
	}
	ceil := func(unit time.Duration) int64 {
		v := d / unit
		if d%unit != 0 {
			v++
		}
		return int64(v)
	}
	for _, u := range []struct {
		unit time.Duration
		name string
	}{
		{time.Nanosecond, "n"}, {time.Microsecond, "u"}, {time.Millisecond, "m"},
		{time.Second, "S"}, {time.Minute, "M"},
	} {
		if v := ceil(u.unit); v <= maxValue {
			return strconv.FormatInt(v, 10) + u.name
		}
	}
	return strconv.FormatInt(min(ceil(time.Hour), maxValue), 10) + "H"
}
