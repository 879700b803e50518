package tail

import (
	"strings"
	"testing"
)

func TestBufferKeepsTheTail(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		max    int
		want   string
		total  int64
	}{
		{name: "fits", writes: []string{"ab", "cd"}, max: 8, want: "abcd", total: 4},
		{name: "cut across writes", writes: []string{"abcdef", "gh"}, max: 4, want: "efgh", total: 8},
		{name: "one big write", writes: []string{"abcdefgh"}, max: 3, want: "fgh", total: 8},
		{name: "no broken rune at the front", writes: []string{"xé", "yz"}, max: 3, want: "yz", total: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.max)
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := b.String(); got != tt.want || b.Total() != tt.total {
				t.Errorf("String %q Total %d, want %q %d", got, b.Total(), tt.want, tt.total)
			}
		})
	}
	if s := New(10).String(); !strings.EqualFold(s, "") {
		t.Errorf("empty buffer %q", s)
	}
}

// TestTailBufferKeepsExactTail: whatever the sizes of the writes, the
// tail buffer holds exactly the last max bytes and never more capacity
// than twice that.
func TestTailBufferKeepsExactTail(t *testing.T) {
	const keep = 1000
	var all []byte
	tb := New(keep)
	seq := 0
	for _, n := range []int{1, 999, 1, 1000, 1001, 3, 500, 499, 2, 4096, 7, 0, 998, 1, 1, 1} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte('a' + seq%26)
			seq++
		}
		all = append(all, p...)
		if w, err := tb.Write(p); w != n || err != nil {
			t.Fatalf("Write(%d) = %d, %v", n, w, err)
		}
		want := all[len(all)-min(len(all), keep):]
		if got := tb.String(); got != string(want) {
			t.Fatalf("after %d bytes: tail %q, want %q", len(all), got, want)
		}
		if tb.Total() != int64(len(all)) {
			t.Fatalf("Total %d, want %d", tb.Total(), len(all))
		}
		if cap(tb.buf) > 2*keep {
			t.Fatalf("capacity %d after %d bytes, want <= %d", cap(tb.buf), len(all), 2*keep)
		}
	}
}
