package faultnet

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestFaultsDecide checks the rule book on its own: loss close to the
// asked fraction, the same choices for the same seed, isolation both ways,
// dial failures and delays.
func TestFaultsDecide(t *testing.T) {
	const n = 20000
	run := func(seed uint64) (string, LinkStats) {
		f := NewFaults(seed)
		f.SetAll(LinkFaults{Loss: 0.1, DialLoss: 0.25})
		var b strings.Builder
		for i := 0; i < n; i++ {
			if f.decide("127.0.0.1:1", "127.0.0.1:2", false).drop {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
			f.decide("127.0.0.1:1", "127.0.0.1:2", i%4 == 0)
		}
		return b.String(), f.Stats("127.0.0.1:1", "127.0.0.1:2")
	}
	a, st := run(7)
	if b, _ := run(7); a != b {
		t.Error("the same seed gave different losses")
	}
	if c, _ := run(8); a == c {
		t.Error("different seeds gave the same losses")
	}
	if frac := float64(st.Dropped) / float64(st.Packets); frac < 0.09 || frac > 0.11 {
		t.Errorf("dropped %d of %d packets (%.3f), want about 0.1", st.Dropped, st.Packets, frac)
	}
	if frac := float64(st.DialsFailed) / float64(st.Dials); frac < 0.22 || frac > 0.28 {
		t.Errorf("failed %d of %d dials (%.3f), want about 0.25", st.DialsFailed, st.Dials, frac)
	}

	f := NewFaults(1)
	f.Isolate("127.0.0.1:3")
	for _, l := range []Link{{"127.0.0.1:3", "127.0.0.1:4"}, {"127.0.0.1:4", "127.0.0.1:3"}} {
		if !f.decide(l.From, l.To, false).drop || !f.decide(l.From, l.To, true).drop {
			t.Errorf("%s→%s: traffic of an isolated member passes", l.From, l.To)
		}
	}
	if f.decide("127.0.0.1:4", "127.0.0.1:5", false).drop {
		t.Error("isolation of one member cut another link")
	}
	f.Rejoin("127.0.0.1:3")
	if f.decide("127.0.0.1:3", "127.0.0.1:4", false).drop {
		t.Error("traffic still lost after Rejoin")
	}
	f.SetLink("127.0.0.1:4", "127.0.0.1:5", LinkFaults{Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond})
	for i := 0; i < 100; i++ {
		d := f.decide("127.0.0.1:4", "127.0.0.1:5", false)
		if d.drop || d.delay < 10*time.Millisecond || d.delay > 15*time.Millisecond {
			t.Fatalf("delayed link: %+v, want a delay of 10-15ms", d)
		}
	}
	if d := f.decide("127.0.0.1:5", "127.0.0.1:4", false); d.delay != 0 {
		t.Errorf("the reverse direction is delayed too: %+v", d)
	}
}

// TestFaultyTransportPackets sends real packets through two transports:
// with 50 % loss about half arrive, delayed packets arrive late, failed
// dials fail, and isolation stops everything.
func TestFaultyTransportPackets(t *testing.T) {
	f := NewFaults(3)
	a, err := NewFaultyNetTransport(f, "127.0.0.1", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	b, err := NewFaultyNetTransport(f, "127.0.0.1", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	var got atomic.Int64
	go func() {
		for range b.PacketCh() {
			got.Add(1)
		}
	}()
	f.SetLink(a.Addr(), b.Addr(), LinkFaults{Loss: 0.5})
	const n = 400
	for i := 0; i < n; i++ {
		if _, err := a.WriteTo([]byte("ping"), b.Addr()); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			time.Sleep(5 * time.Millisecond) // stay well inside the socket buffer
		}
	}
	time.Sleep(200 * time.Millisecond)
	st := f.Stats(a.Addr(), b.Addr())
	if st.Packets != n || got.Load() != int64(st.Packets-st.Dropped) {
		t.Errorf("sent %d, dropped %d, received %d", st.Packets, st.Dropped, got.Load())
	}
	if st.Dropped < n/2-60 || st.Dropped > n/2+60 {
		t.Errorf("dropped %d of %d at 50%% loss", st.Dropped, n)
	}

	f.SetLink(a.Addr(), b.Addr(), LinkFaults{Delay: 150 * time.Millisecond})
	before := got.Load()
	if _, err := a.WriteToAddress([]byte("late"), memberlist.Address{Addr: b.Addr(), Name: "b"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if got.Load() != before {
		t.Error("a packet delayed 150ms arrived within 50ms")
	}
	clustertest.WaitFor(t, 2*time.Second, "the delayed packet", func() bool { return got.Load() == before+1 })

	f.SetLink(a.Addr(), b.Addr(), LinkFaults{DialLoss: 1, DialFailDelay: 20 * time.Millisecond})
	start := time.Now()
	if c, err := a.DialTimeout(b.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("a dial on a link with DialLoss 1 went through")
	} else if took := time.Since(start); took < 20*time.Millisecond {
		t.Errorf("a failed dial took %s, want DialFailDelay 20ms", took)
	}
	go func() {
		for c := range b.StreamCh() {
			c.Close()
		}
	}()
	f.Clear()
	c, err := a.DialTimeout(b.Addr(), time.Second)
	if err != nil {
		t.Fatalf("dial after Clear: %v", err)
	}
	c.Close()

	f.Isolate(b.Addr())
	before = got.Load()
	for i := 0; i < 20; i++ {
		_, _ = a.WriteTo([]byte("cut"), b.Addr())
	}
	time.Sleep(100 * time.Millisecond)
	if got.Load() != before {
		t.Errorf("%d packets reached an isolated member", got.Load()-before)
	}
}
