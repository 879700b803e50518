package agent

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/membership"
)

// TestGossipJunkLogBounded: 20,000 junk UDP packets and 300 junk TCP
// streams at a running agent's gossip port (the flood, smaller)
// are logged in a bounded number of lines, with a count of the lines
// left out, and the agent still answers and takes a join.
func TestGossipJunkLogBounded(t *testing.T) {
	a := startTestAgent(t, http.DefaultClient, nil)
	bind := a.cfg.Bind
	before := len(warnLines(a.log.String()))

	rng := rand.New(rand.NewPCG(1, 2))
	junk := func(max int) []byte {
		b := make([]byte, rng.IntN(max))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	udp, err := net.Dial("udp", bind)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for i := range 20000 {
		p := junk(1400)
		if len(p) > 0 && i%2 == 0 {
			// Half with a valid message type (memberlist's are 0 to 13), so
			// the junk gets as far as the decoders.
			p[0] = byte(i / 2 % 14)
		}
		if _, err := udp.Write(p); err != nil {
			t.Fatalf("udp packet %d: %v", i, err)
		}
	}
	for i := range 300 {
		c, err := net.Dial("tcp", bind)
		if err != nil {
			t.Fatalf("tcp stream %d: %v", i, err)
		}
		p := append(junk(2000), 0)
		p[0] = byte(i % 14)
		c.Write(p)
		c.Close()
	}

	// The agent still answers, and a second agent joins it.
	resp, err := http.Get("http://" + a.http + "/v1/members")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/members after the flood: %d", resp.StatusCode)
	}
	b := startTestAgent(t, http.DefaultClient, func(c *Config) {
		c.Name += "-second"
		c.Join = []string{bind}
	})
	waitUntil(t, 15*time.Second, "both agents to see each other", func() bool {
		return len(alive(a.Members())) == 2 && len(alive(b.Members())) == 2
	})

	// Lines left out are counted when the window ends.
	var suppressed int
	waitUntil(t, membership.RejectedLogWindow+10*time.Second, "a summary of the lines left out", func() bool {
		suppressed = 0
		for _, l := range warnLines(a.log.String()) {
			if l.Message == membership.RejectedLogSummary {
				suppressed += l.Suppressed
			}
		}
		return suppressed > 0
	})
	lines := warnLines(a.log.String())[before:]
	if len(lines) >= 50 {
		t.Errorf("%d warn and error lines after the flood, want fewer than 50", len(lines))
	}
	if suppressed < 1000 {
		t.Errorf("%d lines counted as left out, want at least 1,000 of the flood's", suppressed)
	}
	for _, l := range lines {
		t.Logf("%s", l.raw)
	}
}

// logLine is a line of the agent's JSON log.
type logLine struct {
	Level      string `json:"level"`
	Message    string `json:"message"`
	Suppressed int    `json:"suppressed"`
	raw        string
}

// warnLines returns the log's lines at warn level or above.
func warnLines(log string) []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if l.Level == "warn" || l.Level == "error" || l.Level == "fatal" {
			l.raw = sc.Text()
			out = append(out, l)
		}
	}
	return out
}

// alive returns the alive members.
func alive(ms []events.Member) []events.Member {
	var out []events.Member
	for _, m := range ms {
		if m.Status == "alive" {
			out = append(out, m)
		}
	}
	return out
}
