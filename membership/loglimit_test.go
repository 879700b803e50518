package membership

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestRejectedKind: memberlist's and serf's lines about rejected input
// have a kind; other lines, such as a refutation or a member's failure,
// do not.
func TestRejectedKind(t *testing.T) {
	tests := []struct {
		line, kind string
	}{
		{"memberlist: msg type (61) not supported from=127.0.0.1:5000", "memberlist: msg type"},
		{"memberlist: Failed to decode ping request: msgpack decode error from=127.0.0.1:5000", "memberlist: Failed to decode"},
		{"memberlist: Got ping for unexpected node 'x' from=127.0.0.1:5000", "memberlist: Got ping for unexpected node"},
		{"memberlist: Received invalid msgType (4) from=127.0.0.1:5000", "memberlist: Received invalid msgType"},
		{"memberlist: failed to receive: no installed keys could decrypt the message from=127.0.0.1:5000", "memberlist: failed to receive"},
		{"memberlist: failed to receive and remove the stream label header: EOF from=127.0.0.1:5000", "memberlist: failed to receive and remove the stream label header"},
		{"memberlist: Decrypt packet failed: no installed keys could decrypt the message from=127.0.0.1:5000", "memberlist: Decrypt packet failed"},
		{"memberlist: Failed to read remote state: EOF from=127.0.0.1:5000", "memberlist: Failed to read remote state"},
		{"memberlist: UDP packet too short (65536 bytes) from=127.0.0.1:5000", "memberlist: UDP packet too short"},
		{"serf: Received message of unknown type: 118", "serf: Received message of unknown type"},
		{"serf: Error decoding user event message: msgpack decode error", "serf: Error decoding"},
		{"memberlist: Refuting a suspect message (from: b)", ""},
		{"memberlist: Suspect b has failed, no acks received", ""},
		{"serf: EventMemberFailed: b 127.0.0.1", ""},
		{"serf: msg type (61) not supported", ""},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			if got := rejectedKind([]byte(tt.line)); got != tt.kind {
				t.Errorf("kind %q, want %q", got, tt.kind)
			}
		})
	}
}

// TestRejectedLinesLimited: a flood of lines about rejected input through
// the memberlist logger is logged within the bursts, the rest counted in
// one summary line per kind when the window ends; other lines all pass;
// the next window logs again.
func TestRejectedLinesLimited(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	w := &logWriter{logger: zerolog.New(lockedWriter{&mu, &out})}
	const window = 300 * time.Millisecond
	w.rejectOnce.Do(func() {
		w.rejected = newRejectLimiter(w.logger)
		w.rejected.window = window
	})
	l := log.New(w, "", 0)
	kinds := []string{"[ERR] memberlist: msg type (%d) not supported from=127.0.0.1:5000", "[WARN] serf: Received message of unknown type: %d",
		"[ERR] memberlist: Failed to decode ping: bad %d from=127.0.0.1:5000", "[ERR] memberlist: Got ping for unexpected node '%d' from=127.0.0.1:5000",
		"[ERR] memberlist: Decrypt packet failed: bad %d from=127.0.0.1:5000"}
	const each = 1000
	for i := range each {
		for _, k := range kinds {
			l.Printf(k, i)
		}
		if i%100 == 0 {
			l.Printf("[INFO] memberlist: an ordinary line %d", i)
		}
	}
	read := func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		var lines []map[string]any
		sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("%v: %s", err, sc.Bytes())
			}
			lines = append(lines, m)
		}
		return lines
	}
	count := func(lines []map[string]any) (rejected, ordinary, summaries int, suppressed float64) {
		for _, m := range lines {
			switch {
			case m["message"] == RejectedLogSummary:
				summaries++
				suppressed += m["suppressed"].(float64)
			case m["level"] == "info":
				ordinary++
			default:
				rejected++
			}
		}
		return
	}
	rejected, ordinary, summaries, _ := count(read())
	if rejected != RejectedLogBurst || ordinary != each/100 || summaries != 0 {
		t.Errorf("before the window ends: %d rejected lines (want %d), %d ordinary (want %d), %d summaries (want 0)", rejected, RejectedLogBurst, ordinary, each/100, summaries)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, summaries, _ = count(read())
		if summaries == len(kinds) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	lines := read()
	_, _, summaries, suppressed := count(lines)
	if summaries != len(kinds) || int(suppressed) != len(kinds)*each-RejectedLogBurst {
		t.Errorf("%d summaries (want %d) counting %v lines (want %d)", summaries, len(kinds), suppressed, len(kinds)*each-RejectedLogBurst)
	}
	for _, m := range lines {
		if m["message"] == RejectedLogSummary && (m["kind"] == nil || m["last"] == nil || m["window"] != window.String()) {
			t.Errorf("summary line %v", m)
		}
		if m["kind"] == "memberlist: Decrypt packet failed" && m["hint"] == nil {
			t.Errorf("a summary of decryption failures without the hint: %v", m)
		}
	}
	// A new window: lines are logged again.
	before := len(lines)
	for i := range RejectedLogKindBurst + 1 {
		l.Printf(kinds[0], i)
	}
	if got := len(read()) - before; got != RejectedLogKindBurst {
		t.Errorf("%d lines of one kind logged in a new window, want %d", got, RejectedLogKindBurst)
	}
}

// lockedWriter serializes writes to w, and reads of it in the test.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestDocRejectedSummaryLine: the summary line docs/security.md shows is
// the limiter's.
func TestDocRejectedSummaryLine(t *testing.T) {
	var out bytes.Buffer
	l := newRejectLimiter(zerolog.New(&out).With().Str("component", "memberlist").Logger())
	l.kinds["memberlist: msg type"] = &rejectedLines{suppressed: 10067, level: zerolog.ErrorLevel,
		last: "memberlist: msg type (61) not supported from=10.0.0.9:51622"}
	l.flush()
	doc, err := os.ReadFile("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, append([]byte("  "), out.Bytes()...)) {
		t.Errorf("docs/security.md does not show the line:\n%s", out.String())
	}
}
