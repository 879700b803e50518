// Package tail keeps the last bytes of a stream, for the output of hook
// and check processes: a process may write without bound, vigil keeps a
// fixed tail and counts the rest.
package tail

import (
	"sync"
	"unicode/utf8"
)

// Buffer is an io.Writer that keeps the last Max bytes written to it and
// counts them all. It is safe for concurrent writes (stdout and stderr may
// share one).
type Buffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	total     int64
	truncated bool
}

// New returns a Buffer keeping the last max bytes.
func New(max int) *Buffer { return &Buffer{max: max} }

// Write implements io.Writer; it never fails.
func (t *Buffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	t.total += int64(n)
	if n >= t.max {
		t.truncated = t.truncated || n > t.max || len(t.buf) > 0
		t.buf = append(t.buf[:0], p[n-t.max:]...)
		return n, nil
	}
	if over := len(t.buf) + n - t.max; over > 0 {
		t.truncated = true
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String returns the kept tail, without a partial UTF-8 sequence at its
// front when the front was cut.
func (t *Buffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if t.truncated {
		for k := 0; k < utf8.UTFMax && len(b) > 0 && !utf8.RuneStart(b[0]); k++ {
			b = b[1:]
		}
	}
	return string(b)
}

// Total returns how many bytes were written in all.
func (t *Buffer) Total() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}
