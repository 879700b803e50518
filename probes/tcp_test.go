package probes

import (
	"net"
	"strings"
	"testing"
)

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	_ = closed.Close()

	tests := []struct {
		name, addr string
		want       Status
		output     string
	}{
		{"listening", ln.Addr().String(), Passing, "TCP connect " + ln.Addr().String() + ": Success"},
		{"closed port", closedAddr, Critical, "TCP connect " + closedAddr + ": "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runProbe(t, Definition{ID: "tcp", TCP: tt.addr})
			if res.status != tt.want || !strings.HasPrefix(res.output, tt.output) {
				t.Errorf("status %s output %q, want %s %q", res.status, res.output, tt.want, tt.output)
			}
		})
	}
}
