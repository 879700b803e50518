package membership

import (
	"net"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// memberlist's message types that start a push/pull stream: compressed,
// or the push/pull itself (memberlist's net.go).
const (
	pushPullMsgType = 6
	compressMsgType = 9
)

// TestGossipCompression: with Compression the push/pull a join sends
// starts compressed, without it plain (what a peer's listener reads
// first); members with and without it join each other and see each
// other alive.
func TestGossipCompression(t *testing.T) {
	for _, tt := range []struct {
		name      string
		a, b      bool
		wantFirst byte
	}{
		{"both off", false, false, pushPullMsgType},
		{"both on", true, true, compressMsgType},
		{"on joins off", true, false, compressMsgType},
		{"off joins on", false, true, pushPullMsgType},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The first byte a peer reads of a's join.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			first := make(chan byte, 1)
			go func() {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				defer conn.Close()
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				b := make([]byte, 1)
				if _, err := conn.Read(b); err == nil {
					first <- b[0]
				}
			}()
			// No cluster name: its label would come first on the stream.
			a, _ := startTestCluster(t, "a", func(c *Config) { c.Compression, c.ClusterName = tt.a, "" })
			_, _ = a.Join([]string{ln.Addr().String()}) // the listener never answers
			select {
			case got := <-first:
				if got != tt.wantFirst {
					t.Errorf("a's push/pull starts with message type %d, want %d", got, tt.wantFirst)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a's join sent nothing")
			}

			b, bAddr := startTestCluster(t, "b", func(c *Config) { c.Compression, c.ClusterName = tt.b, "" })
			if n, err := a.Join([]string{bAddr}); err != nil || n != 1 {
				t.Fatalf("a joins b: %d, %v", n, err)
			}
			clustertest.WaitEvery(t, 5*time.Second, 20*time.Millisecond, "a and b to see each other alive", func() bool {
				return statusIn(a, "b") == "alive" && statusIn(b, "a") == "alive"
			})
		})
	}
}
