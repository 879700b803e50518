package membership

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/go-multierror"
)

// TestJoinErrorNamesCause: memberlist's per-address join errors become one
// line that names each cause; an address that answered HTTP says to use
// the -bind port.
func TestJoinErrorNamesCause(t *testing.T) {
	raw := &multierror.Error{Errors: []error{
		errors.New("failed to join 127.0.0.1:7947: received invalid msgType (72), expected pushPullMsg (6) from=127.0.0.1:7947"),
		errors.New("failed to join 127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused"),
		errors.New("failed to resolve nosuch.invalid:7946: lookup nosuch.invalid: no such host"),
		errors.New("failed to join 10.0.0.9:22: received invalid msgType (83), expected pushPullMsg (6) from=10.0.0.9:22"),
	}}
	err := newJoinError([]string{"127.0.0.1:7947", "127.0.0.1:1", "nosuch.invalid:7946", "10.0.0.9:22"}, raw)
	want := "127.0.0.1:7947 answered HTTP, not gossip: use the agent's -bind port (gossip), not its -http port; " +
		"127.0.0.1:1: connection refused (no agent listens on that port); " +
		"nosuch.invalid:7946: cannot resolve it: lookup nosuch.invalid: no such host; " +
		"10.0.0.9:22 answered, but not with vigil's or serf's gossip (received invalid msgType (83), expected pushPullMsg (6))"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	var je *JoinError
	if !errors.As(err, &je) || !errors.Is(err, raw) {
		t.Errorf("%T does not wrap memberlist's error", err)
	}
}

// TestJoinToHTTPPortNamesIt: a join given an HTTP server's address (the
// agent's API port by mistake) says so, whether the server answers the
// push/pull with "HTTP/1.1 400" or waits for a request line that never
// ends until the join times out (a push/pull without a newline early on:
// no compression, a cluster name first).
func TestJoinToHTTPPortNamesIt(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	for _, tt := range []struct {
		name        string
		compression bool
		clusterName string
	}{
		{"plain", false, ""},
		{"compressed", true, ""},
		{"with a cluster name", false, "prod-db"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := startTestCluster(t, "a", func(c *Config) { c.Compression, c.ClusterName = tt.compression, tt.clusterName })
			_, err := a.Join([]string{addr})
			want := addr + " answered HTTP, not gossip: use the agent's -bind port (gossip), not its -http port"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("join to an HTTP server: %v\nwant it to say: %s", err, want)
			}
		})
	}
}
