package connlimit

import (
	"net"
	"testing"
)

// TestSlots: connections beyond the cap are refused, a closed one frees
// its slot once however often it is closed, and CloseWrite reaches a TCP
// connection.
func TestSlots(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	s := New(2)
	a, okA := s.Take(dial())
	b, okB := s.Take(dial())
	if _, ok := s.Take(dial()); !okA || !okB || ok || s.Open() != 2 {
		t.Fatalf("took %v %v, third %v, open %d; want two of a cap of 2", okA, okB, ok, s.Open())
	}
	a.Close()
	a.Close()
	if s.Open() != 1 {
		t.Fatalf("open %d after closing one connection twice, want 1", s.Open())
	}
	if err := b.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Errorf("CloseWrite: %v", err)
	}
	if _, ok := s.Take(dial()); !ok {
		t.Error("a freed slot was not taken again")
	}
}
